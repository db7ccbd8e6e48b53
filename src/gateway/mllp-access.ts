/**
 * The MLLP listener's identities and security audit: who a peer is (a client certificate
 * over TLS, an allow-listed plain sender, the loopback peer), the binding rules for plain
 * MLLP (checked before the listener opens; allow-listed plain senders are warned about
 * loudly), and the security events the listener reports, as audit entries.
 */
import type { GatewayConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { describeError } from '../log/index.js';
import { identityFromCertificate, identityFromMllpPeer, type IdentityResult } from '../auth/index.js';
import { accessDeniedEvent, breakGlassEvent, type AuditLog } from '../audit/index.js';
import type { MllpEvent, MllpServerOptions } from '../ingress/mllp/index.js';
import type { GatewayRuntime } from './runtime.js';

export interface MllpAccessDeps {
  config: GatewayConfig;
  logger: Logger;
  audit: Pick<AuditLog, 'append'>;
  runtime: Pick<GatewayRuntime, 'tlsRefused'>;
  clock: () => Date;
}

export interface MllpAccessWiring {
  identify: NonNullable<MllpServerOptions['identify']>;
  breakGlass: NonNullable<MllpServerOptions['breakGlass']>;
  /** Audits the listener's security events; answers true when it handled the event. */
  observe(e: MllpEvent): boolean;
}

export function mllpAccess(deps: MllpAccessDeps): MllpAccessWiring {
  const { config, logger, audit, runtime, clock } = deps;
  // The binding rules (plain MLLP only on loopback or from allow-listed senders) were checked at
  // start, before any listener opened (checkAccessAtStart), and their warnings printed there.
  const identify = (peer: { ip: string; tls: boolean; names?: { cn?: string; san: string[] } }): IdentityResult => {
    if (peer.tls) return peer.names ? identityFromCertificate(peer.names, config.access) : { ok: false, reason: 'no verified client certificate' };
    return identityFromMllpPeer(peer.ip, config.access);
  };

  const append = (what: string, build: () => Parameters<typeof audit.append>[0]) => {
    try {
      audit.append(build());
    } catch (err) {
      logger.error({ err: describeError(err) }, `MLLP: could not audit ${what}`);
    }
  };

  return {
    identify,
    breakGlass: config.mllp.breakGlass,
    observe(e) {
      if (e.kind === 'access-denied') {
        logger.warn({ actor: e.actor, action: e.action, peer: e.peer, reason: e.reason }, 'MLLP: sender refused (AR)');
        append('a refused sender', () => [
          accessDeniedEvent({ time: clock(), actor: e.actor, action: e.action, protocol: 'mllp', reason: e.reason, peer: e.peer, plain: e.plain }),
        ]);
        return true;
      }
      if (e.kind === 'break-glass') {
        logger.warn({ actor: e.actor, messageId: e.messageId }, 'MLLP: break-glass (purpose ETREAT) used');
        append('a break-glass use', () => [breakGlassEvent({ time: clock(), actor: e.actor, reasonText: e.reasonText, messageId: e.messageId, protocol: 'mllp', plain: e.plain })]);
        return true;
      }
      if (e.kind === 'tls-refused') {
        runtime.tlsRefused(e.peer, 'mllp', e.reason);
        return true;
      }
      return false;
    },
  };
}
