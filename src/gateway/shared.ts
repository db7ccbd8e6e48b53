/**
 * The gateway's state on PostgreSQL, shared by two or more gateways (store.kind "postgres",
 * docs/ha.md): the wrapped data keys and the at-rest cipher over them, the one audit log of
 * the pair, the consent registry, the patient facts and the queue, on one database; and the
 * singletons only one node runs at a time (signed tree heads, retention), held through the
 * leader lock. What stays on this node's own SQLite file is what is this node's: its API
 * tokens and the record of its configuration (provision.ts).
 */
import type pg from 'pg';
import type { AuditEvent } from '../model/index.js';
import type { GatewayConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { describeError } from '../log/index.js';
import { postgresDataKeyTable, openKeyTableCipher, scheduleKeyRefresh, kekSourceFromConfig, type KeyStore } from '../crypto/index.js';
import { PostgresAuditLog, scheduleLeaderTreeHeads, type Signer } from '../audit/index.js';
import { postgresConsentStore, postgresPatientFacts, type PatientFacts, type PostgresConsentStore } from '../consent/index.js';
import { PostgresQueueStore, LeaderElection, openPool } from '../queue/postgres/index.js';
import type { QueueObserver } from '../queue/index.js';
import { shownUrl } from '../ops/index.js';

type PostgresStore = Extract<GatewayConfig['store'], { kind: 'postgres' }>;

/** How often any node frees the expired leases of a node that died mid-delivery (at most; a short lease is looked at sooner). */
const RECLAIM_EVERY_MS = 15_000;

/** The part of the audit log the gateway's own events use (policy, access, TLS): appended, not awaited. */
export interface GatewayAudit {
  append(events: AuditEvent[]): void;
}

export interface SharedState {
  log: PostgresAuditLog;
  /** The gateway's own events into the shared log: checked now (a bad event throws, as on SQLite), written in the background. */
  audit: GatewayAudit;
  consents: PostgresConsentStore;
  facts: PatientFacts;
  store: PostgresQueueStore;
  leader: LeaderElection;
  close(): Promise<void>;
}

export async function openSharedState(
  store: PostgresStore,
  config: GatewayConfig,
  deps: { keys: KeyStore; signer: Signer; logger: Logger; clock: () => Date; quotaBytes: number; observer: QueueObserver },
): Promise<SharedState> {
  const { logger, clock } = deps;
  // Every connection says which gateway it is (pg_stat_activity.application_name): an operator sees who holds what.
  const url = namedConnections(store.url, `darwaza-${store.nodeId}`);
  const pool: pg.Pool = openPool(url, { max: store.pool.max ?? 10 });
  const closers: (() => Promise<void> | void)[] = [() => pool.end()];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        logger.warn({ err: describeError(err) }, 'error while closing the shared store');
      }
    }
  };
  try {
    // One KEK file on every node opens the data keys the nodes share; a day's key exists before its first row.
    const cipher = await openKeyTableCipher(await postgresDataKeyTable(pool), { kek: kekSourceFromConfig(config.keys.kek, { certsDir: config.certsDir }), clock });
    closers.push(() => cipher.close());
    const keyRefresh = scheduleKeyRefresh(cipher, { clock, onError: (err) => logger.warn({ err: describeError(err) }, 'could not refresh the shared data keys (retried in a minute)') });
    closers.push(() => keyRefresh.stop());
    await keyRefresh.runNow();

    const log = await PostgresAuditLog.open({ pool, nodeId: store.nodeId, signer: deps.signer, clock });
    closers.push(() => log.close());
    const audit = backgroundAppender(log, logger);
    closers.push(() => audit.drain());
    const facts = await postgresPatientFacts(pool, { cipher });
    const consents = await postgresConsentStore(pool, { tokenize: deps.keys.tokenizer(), cipher, clock, timezone: config.timezone, auditLog: log, facts });
    closers.push(() => consents.close());
    const queue = await PostgresQueueStore.open({
      url,
      quotaBytes: deps.quotaBytes,
      nodeId: store.nodeId,
      pool: { max: store.pool.max ?? 10 },
      leaseMs: store.leaseSeconds * 1000,
      cipher,
      auditLog: log,
      clock: () => clock().getTime(),
      observer: deps.observer,
    });
    closers.push(() => queue.close());

    const leader = new LeaderElection({
      url,
      onChange: (leads) => logger.info({ node: store.nodeId }, leads ? 'this gateway now runs the pair\'s singletons (tree heads, retention)' : 'this gateway no longer runs the pair\'s singletons'),
    });
    await leader.start();
    closers.push(() => leader.stop());
    const heads = scheduleLeaderTreeHeads({
      log,
      leader,
      onError: (err) => logger.warn({ err: describeError(err) }, 'could not sign a tree head of the shared log (retried)'),
    });
    // As on SQLite, a gateway that stops signs a last head (if it leads), so what it wrote is vouched for.
    closers.push(async () => {
      await heads.tick().catch((err: unknown) => logger.warn({ err: describeError(err) }, 'could not sign a final tree head of the shared log'));
      await heads.stop();
    });
    // A node that died mid-delivery leaves leased rows: any node frees them once the lease expired.
    const reclaim = setInterval(() => {
      queue.reclaimExpiredLeases().then(
        (n) => n && logger.info({ rows: n }, 'rows leased by a node that stopped answering are ready to send again'),
        (err: unknown) => logger.warn({ err: describeError(err) }, 'could not reclaim expired leases (retried)'),
      );
    }, Math.min(RECLAIM_EVERY_MS, store.leaseSeconds * 500));
    reclaim.unref();
    closers.push(() => clearInterval(reclaim));
    return { log, audit, consents, facts, store: queue, leader, close };
  } catch (err) {
    await close();
    const code = (err as { code?: string }).code;
    // The database is not there (or refuses us): say so plainly, naming it without its password.
    if (code && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|28P01|28000|3D000|57P03)$/.test(code)) {
      throw new SharedStoreError(`PostgreSQL at ${shownUrl(store.url)} cannot be used (${code}): check that it runs, that this gateway may connect (pg_hba.conf, the password) and that the database exists; then start again`);
    }
    throw err;
  }
}

/** The shared database could not be reached or used at start. */
export class SharedStoreError extends Error {
  override name = 'SharedStoreError';
}

/** The URL with an application_name, unless it names one already. */
export function namedConnections(url: string, name: string): string {
  try {
    const u = new URL(url);
    if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', name);
    return u.toString();
  } catch {
    return url; // not a URL the WHATWG parser reads (pg reads more forms): left as given
  }
}

/** Events held while the database cannot be reached, at most (beyond, the oldest are dropped and counted in the log). */
const HELD_EVENTS_MAX = 10_000;
const RETRY_MS = 2_000;

/**
 * The gateway's own events (policy, access, TLS) into the shared log: checked at once (a bad
 * event throws, as on SQLite), appended in the background in order. While the database cannot
 * be reached they are held and appended when it answers again, so an outage does not erase the
 * security events it caused.
 */
export function backgroundAppender(log: Pick<PostgresAuditLog, 'check' | 'append'>, logger: Logger): GatewayAudit & { drain(): Promise<void>; held(): number } {
  const held: AuditEvent[][] = [];
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dropped = 0;
  const appendHeld = async () => {
    try {
      while (held.length) {
        await log.append(held[0]!);
        held.shift();
      }
      if (dropped) logger.error({ dropped }, 'audit events were dropped while the shared database could not be reached (more than could be held)');
      dropped = 0;
    } catch (err) {
      logger.warn({ err: describeError(err), held: held.length }, 'could not append to the shared audit log; holding the events and trying again');
      timer ??= setTimeout(() => {
        timer = undefined;
        void pump();
      }, RETRY_MS);
      timer.unref();
    }
  };
  // One pass at a time, in order; a pass started while one runs follows it.
  const pump = (): Promise<void> => {
    running = (running ?? Promise.resolve()).then(appendHeld);
    const mine = running;
    void mine.then(() => {
      if (running === mine) running = undefined;
    });
    return mine;
  };
  return {
    append(events) {
      log.check(events);
      held.push(events);
      if (held.length > HELD_EVENTS_MAX) {
        held.shift();
        dropped++;
      }
      void pump();
    },
    held: () => held.length,
    async drain() {
      if (timer) clearTimeout(timer);
      await pump();
    },
  };
}
