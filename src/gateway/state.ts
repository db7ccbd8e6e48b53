/**
 * The gateway's state, on the store its config names: the embedded SQLite file (the default:
 * everything in this appliance's one database) or PostgreSQL shared by a pair (shared.ts).
 * The rest of the composition root sees one face: the queue port, the consent registry's
 * async port, a sink for the gateway's own audit events, and the stages bound to them.
 */
import type { GatewayConfig } from '../config/index.js';
import type { Db } from '../store/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../admin/index.js';
import type { Stages } from '../pipeline/index.js';
import { SqliteQueueStore, type QueueObserver, type QueueStore } from '../queue/index.js';
import { sqliteConsentStore, type ConsentStore } from '../consent/index.js';
import type { AuditLog } from '../audit/index.js';
import type { KeyStore } from '../crypto/index.js';
import { provision, provisionShared, type PolicyAndProfiles } from './provision.js';
import type { PackInForce } from './pack.js';
import type { PolicyInForce } from './runtime.js';
import type { GatewayAudit, SharedState } from './shared.js';
import { rebindLegacyQueueRows } from './at-rest.js';

export interface GatewayState {
  keys: KeyStore;
  /** The gateway's own events (policy, access, TLS refusals). */
  audit: GatewayAudit;
  consents: ConsentStore;
  policy: PolicyInForce;
  pack: PackInForce;
  stages: Stages;
  store: QueueStore;
  /** On SQLite: the log, for the jobs and pages that read it (tree build, cron heads, ATNA, verify, console). */
  sqlite?: { audit: AuditLog };
  /** On PostgreSQL: the shared state and its singletons. */
  shared?: SharedState;
  /** Commits what the group commit still holds. */
  flush(): Promise<void>;
  /** Closes what the state opened (the stores, the leader lock, the pool); `db` is the caller's. */
  close(): Promise<void>;
}

export async function openState(
  config: GatewayConfig,
  db: Db,
  loaded: PolicyAndProfiles,
  deps: { logger: Logger; metrics: Metrics; clock: () => Date; observer: QueueObserver },
): Promise<GatewayState> {
  const { logger } = deps;
  if (config.store.kind === 'postgres') {
    const p = await provisionShared({ ...config, store: config.store }, db, loaded, deps);
    logger.info({ node: config.store.nodeId }, 'state on PostgreSQL, shared with the other gateways of the pair');
    return {
      keys: p.keys,
      audit: p.shared.audit,
      consents: p.shared.consents,
      policy: p.policy,
      pack: p.pack,
      stages: p.stages,
      store: p.shared.store,
      shared: p.shared,
      flush: () => p.shared.store.flush(),
      close: () => p.shared.close(),
    };
  }
  const p = await provision(config, db, loaded, deps);
  const store = SqliteQueueStore.open(db, { quotaBytes: config.limits.queueQuotaBytes, cipher: p.cipher, audit: p.audit, observer: deps.observer });
  const rebound = rebindLegacyQueueRows(db, p.cipher);
  if (rebound.rebound || rebound.left) logger.info(rebound, 'queue payloads written before row binding were re-encrypted bound to their rows');
  return {
    keys: p.keys,
    audit: p.audit,
    consents: sqliteConsentStore(p.consents),
    policy: p.policy,
    pack: p.pack,
    stages: p.stages,
    store,
    sqlite: { audit: p.audit },
    flush: async () => store.flush(),
    close: async () => {
      store.flush();
      p.consents.close();
      await store.close();
    },
  };
}
