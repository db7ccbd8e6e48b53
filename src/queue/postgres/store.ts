/**
 * PostgresQueueStore: the queue port on PostgreSQL, for two or more gateways sharing one
 * database. Each role lives in its own file (accept: group commit of multi-row INSERTs;
 * dispatch: leased claims with SKIP LOCKED; withdraw; reads; operator; retention), as in the
 * SQLite store, with the same rows, states, ciphertexts and audit events. Audit events go to the
 * log shared on the database (`auditLog`, PostgresAuditLog) inside the transaction of the change
 * they record, and to an optional AuditSink (`audit`) once it committed.
 * atQuota()/heldPayloadBytes() answer from a count kept in memory and re-read periodically,
 * since other nodes write too. A database that cannot be reached rejects with
 * StoreUnavailableError (503 + Retry-After at ingress); the pool reconnects by itself.
 */
import pg from 'pg';
import type { AuditEvent, AuditSink, PayloadCipher } from '../../model/index.js';
import type { QueueStore, RetentionCounts, RetentionOptions, StillPermitted } from '../port.js';
import { HeldBytes } from '../sqlite/index.js';
import {
  QueueWriteError,
  type AcceptWrite,
  type ClaimedItem,
  type CountRow,
  type IdempotentAnswer,
  type ItemStatus,
  type ListFilter,
  type MessageStatus,
  type PurgeFilter,
  type RetryFilter,
  type Settlement,
} from '../types.js';
import { PgGroupCommit } from './accept.js';
import type { PgContext } from './context.js';
import { PgDispatch } from './dispatch.js';
import { mapPgError } from './errors.js';
import * as operator from './operator.js';
import { DEFAULT_HELD_REFRESH_MS, DEFAULT_PG_LEASE_MS, DEFAULT_POOL_MAX, defaultNodeId, type PostgresQueueStoreOptions } from './options.js';
import * as reads from './reads.js';
import { expireDead, purgeDelivered } from './retention.js';
import { PG_QUEUE_MIGRATIONS, migratePg } from './schema.js';
import { withdrawForPatient } from './withdraw.js';

const IDENTITY_CIPHER: PayloadCipher = { encrypt: (plain) => plain, decrypt: (cipher) => cipher, shred: () => {} };
const NO_AUDIT: AuditSink = { append: () => {} };

/** BIGINT (counts, epoch ms, seq) as a JS number: every value the queue stores is below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Opens a pool on the database: the store's, or a tool's (bench, migrations). */
export function openPool(url: string, opts: PostgresQueueStoreOptions['pool'] = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? DEFAULT_POOL_MAX,
    connectionTimeoutMillis: opts.connectionTimeoutMillis ?? 5_000,
    idleTimeoutMillis: opts.idleTimeoutMillis ?? 30_000,
    types: TYPES,
  });
  // An idle connection dropped by a database restart must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

export class PostgresQueueStore implements QueueStore {
  private readonly commits: PgGroupCommit;
  private readonly dispatch: PgDispatch;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Connects, migrates the queue's tables (idempotent, under a lock), reads the quota count. */
  static async open(opts: PostgresQueueStoreOptions): Promise<PostgresQueueStore> {
    if (!(typeof opts.quotaBytes === 'number' && opts.quotaBytes > 0)) throw new QueueWriteError('quotaBytes must be a positive number');
    const pool = openPool(opts.url, opts.pool);
    try {
      const client = await pool.connect();
      try {
        await migratePg(client, 'queue', PG_QUEUE_MIGRATIONS);
      } finally {
        client.release();
      }
      const store = new PostgresQueueStore(pool, opts);
      await store.refreshHeld();
      store.startRefresh(opts.heldRefreshMs ?? DEFAULT_HELD_REFRESH_MS);
      return store;
    } catch (err) {
      await pool.end().catch(() => {});
      throw mapPgError(err);
    }
  }

  private readonly c: PgContext;

  private constructor(
    readonly pool: pg.Pool,
    opts: PostgresQueueStoreOptions,
  ) {
    this.c = {
      pool,
      nodeId: opts.nodeId ?? defaultNodeId(),
      cipher: opts.cipher ?? IDENTITY_CIPHER,
      audit: opts.audit ?? NO_AUDIT,
      txAudit: opts.auditLog,
      clock: opts.clock ?? Date.now,
      observer: opts.observer ?? {},
      held: new HeldBytes(0, opts.quotaBytes),
      heldGeneration: 0,
    };
    this.commits = new PgGroupCommit(this.c, opts.maxBatch ?? 512);
    this.dispatch = new PgDispatch(this.c, opts.leaseMs ?? DEFAULT_PG_LEASE_MS);
  }

  get nodeId(): string {
    return this.c.nodeId;
  }

  /** Re-reads the bytes held over all nodes; dropped when a local change raced the read. */
  async refreshHeld(): Promise<void> {
    const gen = this.c.heldGeneration;
    const total = await reads.heldBytes(this.c);
    if (gen !== this.c.heldGeneration) return;
    this.c.held.change(total - this.c.held.value);
  }

  private startRefresh(ms: number): void {
    if (ms <= 0) return;
    this.refreshTimer = setInterval(
      () =>
        void this.refreshHeld().then(
          () => (this.reached = true),
          () => (this.reached = false),
        ),
      ms,
    );
    this.refreshTimer.unref();
  }

  private reached = true;
  /** Whether the last periodic read reached the database (readiness: a node that cannot reach it should not get traffic). */
  reachable(): boolean {
    return this.reached;
  }

  // ---- ingest ----
  accept(write: AcceptWrite): Promise<void> {
    return this.commits.accept(write);
  }
  /** Commits every pending accept() now. */
  flush(): Promise<void> {
    return this.commits.flush();
  }
  findIdempotent(key: string): Promise<IdempotentAnswer | undefined> {
    return reads.findIdempotent(this.c, key);
  }

  // ---- status ----
  getMessage(id: string): Promise<MessageStatus | undefined> {
    return reads.getMessage(this.c, id);
  }
  counts(): Promise<CountRow[]> {
    return reads.counts(this.c);
  }
  heldPayloadBytes(): number {
    return this.c.held.value;
  }
  atQuota(): boolean {
    return this.c.held.full();
  }

  // ---- dispatcher ----
  claim(destination: string, limit: number): Promise<ClaimedItem[]> {
    return this.dispatch.claim(destination, limit);
  }
  settle(settlements: Settlement[]): Promise<void> {
    return this.dispatch.settle(settlements);
  }
  wake(destination: string): Promise<number> {
    return this.dispatch.wake(destination);
  }
  oldestWaiting(): Promise<{ destination: string; enqueuedAt: number }[]> {
    return this.dispatch.oldestWaiting();
  }
  /** Start-up: rows this node (same nodeId) left in flight become ready again. Other nodes' rows wait for their lease. */
  recoverInFlight(): Promise<number> {
    return this.dispatch.recoverOwn();
  }
  /** Any node's rows whose lease expired become ready again (run periodically on every node, or on the leader). */
  reclaimExpiredLeases(): Promise<number> {
    return this.dispatch.reclaimExpired();
  }
  markDelivered(ids: number[], info: { status?: number } = {}): Promise<void> {
    return this.settle(ids.map((id) => ({ kind: 'delivered' as const, id, status: info.status })));
  }
  markRetry(id: number, nextAttemptAt: number, error: string, status?: number): Promise<void> {
    return this.settle([{ kind: 'retry', id, nextAttemptAt, error, status }]);
  }
  markDead(id: number, reason: string, status?: number): Promise<void> {
    return this.settle([{ kind: 'dead', id, reason, status }]);
  }
  markWithdrawn(id: number, reason: string, audit?: AuditEvent[]): Promise<void> {
    return this.settle([{ kind: 'withdrawn', id, reason, audit }]);
  }

  // ---- consent withdrawal ----
  withdrawForPatient(tokens: string[], purpose?: string, reason = 'consent withdrawn', stillPermitted?: StillPermitted): Promise<number> {
    return withdrawForPatient(this.c, tokens, purpose, reason, stillPermitted);
  }

  // ---- operator ----
  list(filter: ListFilter = {}): Promise<ItemStatus[]> {
    return operator.list(this.c, filter);
  }
  inspect(messageId: string): Promise<MessageStatus | undefined> {
    return this.getMessage(messageId);
  }
  retryDead(filter: RetryFilter = {}, actor = 'cli'): Promise<number> {
    return operator.retryDead(this.c, filter, actor);
  }
  purge(filter: PurgeFilter, actor = 'cli'): Promise<number> {
    return operator.purge(this.c, filter, actor);
  }
  deliveredSince(sinceMs: number): Promise<{ destination: string; count: number }[]> {
    return operator.deliveredSince(this.c, sinceMs);
  }

  // ---- retention ----
  purgeDelivered(olderThanMs: number, opts?: RetentionOptions): Promise<RetentionCounts> {
    return purgeDelivered(this.c, olderThanMs, opts);
  }
  expireDead(olderThanMs: number): Promise<number> {
    return expireDead(this.c, olderThanMs);
  }

  /** Commits what is pending, refuses further writes and closes the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    try {
      await this.commits.close();
    } finally {
      await this.c.pool.end().catch(() => {});
    }
  }
}
