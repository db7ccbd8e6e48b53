/**
 * Jobs, watchers and timers in one place: the policy file watcher, TLS reloads, signed
 * tree heads, signing-key rotation, retention, the ATNA feed and the certificate-expiry
 * timer. Each is started here, reloaded here on SIGHUP, and stopped here.
 */
import type { GatewayConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { describeError } from '../log/index.js';
import type { Metrics } from '../admin/index.js';
import { watchPolicy, type CompiledPolicy, type PolicyWatcher } from '../policy/index.js';
import { scheduleKeyRotation, type KeyStore } from '../crypto/index.js';
import { auditEvents, startAtnaFeed, createRefusalAudit, policyRefusedEvent, type AuditLog } from '../audit/index.js';
import { scheduleTreeHeads } from '../jobs/tree-heads.js';
import { purgeWithdrawnConsents, scheduleRetention, type RetentionStore } from '../jobs/retention.js';
import type { Db } from '../store/index.js';
import { certificateStatus, onTlsHandshakeFailure, watchLanTls } from '../pki/index.js';
import type { EventEmitter } from 'node:events';
import type { PackInForce } from './pack.js';

/** Days ahead of expiry from which a certificate is warned about (at start, then daily). */
export const CERT_WARN_DAYS = 30;
const DAY_MS = 86_400_000;

/** The policy in force: swapped atomically; every activation is audited, logged and shown in metrics. */
export interface PolicyInForce {
  current(): CompiledPolicy;
  activate(next: CompiledPolicy, why: string): void;
}

export function policyInForce(initial: CompiledPolicy, deps: { audit: Pick<AuditLog, 'append'>; metrics: Metrics; logger: Logger; clock: () => Date }): PolicyInForce {
  let policy = initial;
  const show = (p: CompiledPolicy) => {
    deps.metrics.policyInfo.reset();
    deps.metrics.policyInfo.set({ policy: p.ref.id, version: p.ref.version, sha256: p.ref.sha256 }, 1);
  };
  show(policy);
  deps.audit.append([auditEvents.policyActivated({ time: deps.clock(), policySha256: policy.ref.sha256, reason: 'loaded at start', actor: 'gateway' })]);
  return {
    current: () => policy,
    activate(next, why) {
      const previous = policy.ref.sha256;
      policy = next;
      show(next);
      deps.audit.append([auditEvents.policyActivated({ time: deps.clock(), policySha256: next.ref.sha256, reason: `${why}; previous ${previous.slice(0, 16)}`, actor: 'gateway' })]);
      deps.logger.info({ policy: next.ref }, 'policy activated');
    },
  };
}

export interface RuntimeOptions {
  config: GatewayConfig;
  logger: Logger;
  metrics: Metrics;
  clock: () => Date;
  /** Where the gateway's own events go (the SQLite log, or the shared log's background appender). */
  audit: Pick<AuditLog, 'append'>;
  /**
   * The SQLite log, whose tree heads (cron) and ATNA feed run here. Absent on PostgreSQL: the
   * leader signs the shared log's heads (src/gateway/shared.ts), and the ATNA feed is not offered.
   */
  log?: AuditLog;
  /** On a pair: whether this node runs the singletons now (retention, key rotation); absent: always. */
  isLeader?: () => boolean;
  keys: KeyStore;
  store: RetentionStore;
  /** The database, for retention passes outside the queue (withdrawn consents past their hold). */
  db?: Db;
  policy: PolicyInForce;
  /** The pack's destinations and profiles: a new pack the config no longer matches is refused. */
  pack: PackInForce;
}

export interface GatewayRuntime {
  /** Audits a TLS listener's refused handshakes (rate-limited, aggregated per peer and minute). */
  auditHandshakes(server: EventEmitter, protocol: string): void;
  /** One refused handshake, reported by a listener that watches its own (MLLP). */
  tlsRefused(peer: string, protocol: string, reason: string): void;
  /** Follows a TLS listener's certificates and CRL (revocations and renewals reach it). */
  watchTls(server: { setSecureContext(o: never): void }, what: string): void;
  /** Metrics read on every scrape (certificate days left). */
  refreshGauges(): void;
  /** SIGHUP: TLS material, signing keys and the policy file, read again now. */
  reload(): Promise<void>;
  /** A last signed tree head, before the store closes. */
  beforeClose(): void;
  close(): Promise<void>;
}

export function startRuntime(opts: RuntimeOptions): GatewayRuntime {
  const { config, logger, metrics, clock, audit, keys, policy } = opts;
  const stops: (() => void | Promise<void>)[] = [];

  // Policy: hot-reloaded atomically with its pack's profiles and destination facts; a bad new pack, one
  // the config no longer matches, or one naming a profile it lacks keeps the last good one.
  const accept = (next: CompiledPolicy, why: string) => {
    const staged = opts.pack.stage(next);
    if (!staged.ok) {
      logger.error({ problems: staged.problems }, 'policy change refused (the gateway config does not match the new policy pack, or the pack lacks a profile its rules name); keeping the last good policy');
      return;
    }
    policy.activate(next, why);
    staged.commit();
  };
  const policyOpts = { trustedSigners: config.policy.trustedSigners, requireSigned: config.policy.requireSigned };
  const watcher: PolicyWatcher = watchPolicy(config.policy.path, { ...policyOpts, initial: policy.current(), sighup: false }, (next, refusal) => {
    if (next instanceof Error) {
      logger.error({ err: describeError(next) }, 'policy change refused; keeping the last good policy');
      // A refused policy is a security event (someone may be trying to swap it): audited, PHI-free.
      if (refusal) {
        try {
          audit.append([policyRefusedEvent({ time: clock(), code: refusal.code, reason: refusal.reason })]);
        } catch (err) {
          logger.error({ err: describeError(err) }, 'could not audit a refused policy');
        }
      }
    } else accept(next, 'file changed');
  });
  stops.push(() => watcher.stop());

  const tlsChecks: (() => boolean)[] = [];
  const refusals = createRefusalAudit({ append: (events) => audit.append(events), clock });
  stops.push(() => refusals.stop());

  const log = opts.log;
  if (log) {
    const treeHeads = scheduleTreeHeads({ log, cron: config.audit.treeHeadCron, everyEntries: config.audit.treeHeadEveryEntries });
    stops.push(() => treeHeads.stop());
  }
  const leads = opts.isLeader ?? (() => true);

  if (config.keys.rotateCron) {
    const rotation = scheduleKeyRotation(keys, {
      cron: config.keys.rotateCron,
      overlapMs: config.keys.overlapDays * DAY_MS,
      onRotated: (e) => audit.append([auditEvents.keyRotated({ time: clock(), reason: `new signing key ${e.rotated.keyId}`, actor: 'scheduler' })]),
      onError: (err) => logger.error({ err: describeError(err) }, 'key rotation failed'),
    });
    stops.push(() => rotation.stop());
  }

  if (config.audit.atna && !log) logger.warn('the ATNA feed reads the SQLite audit log: it is not offered on PostgreSQL yet (docs/ha.md)');
  if (config.audit.atna && log) {
    const atna = startAtnaFeed({
      log,
      host: config.audit.atna.host,
      port: config.audit.atna.port,
      tls: { ca: config.audit.atna.ca, cert: config.audit.atna.cert, key: config.audit.atna.key },
      onError: (err) => logger.warn({ err: describeError(err) }, 'ATNA feed: collector unreachable; spooling'),
    });
    stops.push(() => atna.stop());
  }

  const retention = scheduleRetention({
    store: opts.store,
    // On a pair only the leader runs it: one pass over the shared queue, not one per node.
    when: leads,
    retentionMs: config.limits.retentionDays * DAY_MS,
    windows: { deadLetterMs: config.limits.deadLetterRetentionDays * DAY_MS, idempotencyMs: config.limits.idempotencyRetentionDays * DAY_MS },
    onRun: (r) => {
      if (r.deadExpired) logger.info({ deadExpired: r.deadExpired }, 'retention: dead letters expired (audited)');
    },
    onError: (err) => logger.error({ err: describeError(err) }, 'retention run failed'),
    also: opts.db
      ? [
          () => {
            const n = purgeWithdrawnConsents(opts.db!, { holdMs: config.limits.withdrawnConsentHoldDays * DAY_MS, now: clock().getTime(), audit });
            if (n) logger.info({ consents: n }, 'retention: withdrawn consents past their legal hold deleted (audited)');
          },
        ]
      : [],
  });
  stops.push(() => retention.stop());

  // Certificate expiry: a gauge on every scrape, and a warning ahead of time (at start, then daily).
  const warnExpiring = () => {
    try {
      for (const c of certificateStatus(config.certsDir)) {
        if (!c.revoked && c.daysLeft <= CERT_WARN_DAYS) {
          logger.warn({ certificate: c.name, kind: c.kind, notAfter: c.notAfter, daysLeft: c.daysLeft }, c.daysLeft < 0 ? 'certificate has expired' : `certificate expires within ${CERT_WARN_DAYS} days`);
        }
      }
    } catch {
      /* no PKI in this certs folder */
    }
  };
  warnExpiring();
  const expiryTimer = setInterval(warnExpiring, DAY_MS);
  expiryTimer.unref();
  stops.push(() => clearInterval(expiryTimer));

  return {
    auditHandshakes(server, protocol) {
      onTlsHandshakeFailure(server, (f) => refusals.refused(f.peer, protocol, f.reason));
    },
    tlsRefused: (peer, protocol, reason) => refusals.refused(peer, protocol, reason),
    watchTls(server, what) {
      const w = watchLanTls(server as never, config.certsDir, { onError: (err) => logger.error({ err: describeError(err) }, `could not reload ${what} TLS material`) });
      tlsChecks.push(() => w.check());
      stops.push(() => w.stop());
    },
    refreshGauges: () => {
      try {
        for (const c of certificateStatus(config.certsDir)) metrics.certDaysLeft.set({ certificate: c.name }, c.daysLeft);
      } catch {
        /* no certificates yet */
      }
    },
    reload: async () => {
      // A revocation or renewed certificate reaches the TLS listeners now, not at the next periodic check.
      for (const check of tlsChecks) {
        try {
          check();
        } catch (err) {
          logger.error({ err: describeError(err) }, 'could not reload LAN TLS material; keeping the current one');
        }
      }
      // A rotation made by `darwaza keys rotate` while we run: sign with the new key from now on.
      try {
        keys.reload();
      } catch (err) {
        logger.error({ err: describeError(err) }, 'could not reload the signing keys; keeping the current one');
      }
      const p = await watcher.reload();
      if (p && p.ref.sha256 !== policy.current().ref.sha256) accept(p, 'reloaded on SIGHUP');
    },
    beforeClose: () => {
      if (!log) return;
      try {
        log.signTreeHead();
      } catch (err) {
        logger.warn({ err: describeError(err) }, 'could not sign a final tree head');
      }
    },
    close: async () => {
      for (const stop of stops.reverse()) {
        try {
          await stop();
        } catch (err) {
          logger.warn({ err: describeError(err) }, 'error while stopping a job');
        }
      }
    },
  };
}

