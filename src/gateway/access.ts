/**
 * Access control at start: the binding rules (refused with the config field named, before
 * anything opens), the warnings start prints, and the two HTTP guards (LAN and admin) over
 * the gateway's token table, whose refusals and break-glass uses go to the audit log.
 */
import { ConfigError, type GatewayConfig } from '../config/index.js';
import { checkBindings, createHttpAuth, resolveMetricsToken, TokenStore, type HttpAuth, type TokenVerifier } from '../auth/index.js';
import { accessDeniedEvent, breakGlassEvent, type AuditLog } from '../audit/index.js';
import type { Db } from '../store/index.js';
import { describeError, type Logger } from '../log/index.js';

/** The admin API has no TLS of its own: plain, so loopback only, and it always takes API tokens. */
const ADMIN_TLS = false;

/** Throws ConfigError (exit 3) for a binding problem; returns the warnings to print. */
export function checkAccessAtStart(config: GatewayConfig): string[] {
  const report = checkBindings({
    lan: { listen: config.listen.lan, tls: config.lan.tls },
    admin: { listen: config.listen.admin, tls: ADMIN_TLS, tokens: true },
    mllp: config.listen.mllp ? { listen: config.listen.mllp, tls: config.lan.tls } : null,
    access: config.access,
    policy: { requireSigned: config.policy.requireSigned },
  });
  const field = (f: string) => (f === 'admin.tls' ? 'listen.admin' : f);
  if (report.problems.length) throw new ConfigError(report.problems.map((p) => `${config.file}: ${field(p.field)}: ${p.message}`));
  const metrics = resolveMetricsToken(config.access.metricsToken, process.env);
  if (!metrics.ok) throw new ConfigError([`${config.file}: ${metrics.error}`]);
  return [...config.deprecations, ...report.warnings.map((w) => `${w.field}: ${w.message}`)];
}

export interface GatewayAuth {
  lan: HttpAuth;
  admin: HttpAuth;
  /** The token table both guards verify against (the console's sign-in uses it too). */
  tokens: TokenVerifier;
  /** Audits one accepted break-glass submission. */
  breakGlass(e: { actor: string; reasonText: string; messageId: string }): void;
}

export function createGatewayAuth(config: GatewayConfig, db: Db, audit: Pick<AuditLog, 'append'>, logger: Logger, clock: () => Date): GatewayAuth {
  const tokens = TokenStore.open(db);
  const metrics = resolveMetricsToken(config.access.metricsToken, process.env);
  const append = (what: string, event: Parameters<AuditLog['append']>[0][number]) => {
    try {
      audit.append([event]);
    } catch (err) {
      logger.error({ err: describeError(err) }, `could not audit ${what}`);
    }
  };
  const common = { access: config.access, tokens, clock };
  const onDenied = (api: string) => (d: { actor?: string; action: string; route: string; reason: string; status: number }) => {
    logger.warn({ api, status: d.status, action: d.action, route: d.route, actor: d.actor }, 'request refused');
    append('a refused request', accessDeniedEvent({ time: clock(), ...d }));
  };
  return {
    lan: createHttpAuth({ ...common, api: 'lan', tls: config.lan.tls, onDenied: onDenied('lan') }),
    admin: createHttpAuth({
      ...common,
      api: 'admin',
      tls: ADMIN_TLS,
      ...(metrics.ok && metrics.sha256 ? { metricsSha256: metrics.sha256 } : {}),
      onDenied: onDenied('admin'),
    }),
    tokens,
    breakGlass: (e) => append('a break-glass use', breakGlassEvent({ time: clock(), ...e, protocol: 'http' })),
  };
}
