/**
 * SqliteQueueStore: the queue port on the gateway's SQLite file. Each role lives in its
 * own file (accept: group commit; dispatch: claim/settle/recover; withdraw; reads;
 * operator; retention); this class wires them to one handle, one set of statements
 * prepared at open, and one quota count. Its methods run their SQL synchronously when
 * called (better-sqlite3) and hand the result back as a Promise, as the port asks.
 */
import type { AuditEvent, AuditSink, PayloadCipher } from '../../model/index.js';
import { migrate, type Db } from '../../store/index.js';
import type { QueueStore, RetentionCounts, RetentionOptions, StillPermitted } from '../port.js';
import { QUEUE_MIGRATIONS } from '../schema.js';
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
import { GroupCommit } from './accept.js';
import { BackgroundCheckpoints } from './checkpoints.js';
import type { StoreContext } from './context.js';
import { DiskGuard } from './disk.js';
import { DispatchSide } from './dispatch.js';
import { HeldBytes } from './held-bytes.js';
import * as operator from './operator.js';
import {
  DEFAULT_BOOKKEEPING_SYNC,
  DEFAULT_DISK_CHECK_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_MAX_BATCH,
  DEFAULT_MIN_FREE_DISK_BYTES,
  type QueueStoreOptions,
} from './options.js';
import { PatientIndex } from './patient-index.js';
import * as reads from './reads.js';
import { expireDead, purgeDelivered } from './retention.js';
import { prepareStatements } from './statements.js';
import { withdrawForPatient } from './withdraw.js';

const IDENTITY_CIPHER: PayloadCipher = {
  encrypt: (plain) => plain,
  decrypt: (cipher) => cipher,
  shred: () => {},
};
const NO_AUDIT: AuditSink = { append: () => {} };

/** Runs synchronous work now and reports its outcome as a settled Promise. */
function now<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

export class SqliteQueueStore implements QueueStore {
  private readonly c: StoreContext;
  private readonly disk: DiskGuard;
  private readonly commits: GroupCommit;
  private readonly dispatch: DispatchSide;
  private readonly checkpoints: BackgroundCheckpoints;

  /** Migrates the queue's tables (idempotent) and opens the store on this handle. */
  static open(db: Db, opts: QueueStoreOptions): SqliteQueueStore {
    migrate(db, 'queue', QUEUE_MIGRATIONS);
    return new SqliteQueueStore(db, opts);
  }

  private constructor(db: Db, opts: QueueStoreOptions) {
    if (!(typeof opts.quotaBytes === 'number' && opts.quotaBytes > 0)) {
      throw new QueueWriteError('quotaBytes must be a positive number');
    }
    const s = prepareStatements(db);
    const clock = opts.clock ?? Date.now;
    this.c = {
      db,
      s,
      cipher: opts.cipher ?? IDENTITY_CIPHER,
      audit: opts.audit ?? NO_AUDIT,
      clock,
      observer: opts.observer ?? {},
      held: new HeldBytes((s.heldBytes.get() as { b: number | null }).b ?? 0, opts.quotaBytes),
      index: new PatientIndex(db),
    };
    this.disk = new DiskGuard(
      db.name,
      opts.minFreeDiskBytes ?? DEFAULT_MIN_FREE_DISK_BYTES,
      opts.diskCheckMs ?? DEFAULT_DISK_CHECK_MS,
      clock,
      opts.freeDiskBytes,
    );
    this.checkpoints = new BackgroundCheckpoints(db, opts.checkpoints);
    this.commits = new GroupCommit(this.c, this.disk, opts.maxBatch ?? DEFAULT_MAX_BATCH, this.c.index, () => this.checkpoints.afterCommit());
    this.dispatch = new DispatchSide(
      this.c,
      opts.leaseMs ?? DEFAULT_LEASE_MS,
      (opts.bookkeepingSync ?? DEFAULT_BOOKKEEPING_SYNC) === 'NORMAL',
    );
  }

  // ---- ingest ----

  accept(write: AcceptWrite): Promise<void> {
    return this.commits.accept(write);
  }

  /** Commits every pending accept() now (they are otherwise committed at the next turn of the event loop). */
  flush(): void {
    this.commits.flush();
  }

  findIdempotent(key: string): Promise<IdempotentAnswer | undefined> {
    return now(() => reads.findIdempotent(this.c, key));
  }

  // ---- status ----

  getMessage(id: string): Promise<MessageStatus | undefined> {
    return now(() => reads.getMessage(this.c, id));
  }

  counts(): Promise<CountRow[]> {
    return now(() => reads.counts(this.c));
  }

  heldPayloadBytes(): number {
    return this.c.held.value;
  }

  atQuota(): boolean {
    return this.disk.isLow() || this.c.held.full();
  }

  // ---- dispatcher ----

  claim(destination: string, limit: number): Promise<ClaimedItem[]> {
    return now(() => this.dispatch.claim(destination, limit));
  }

  settle(settlements: Settlement[]): Promise<void> {
    return now(() => this.dispatch.settle(settlements));
  }

  wake(destination: string): Promise<number> {
    return now(() => this.dispatch.wake(destination));
  }

  oldestWaiting(): Promise<{ destination: string; enqueuedAt: number }[]> {
    return now(() => this.dispatch.oldestWaiting());
  }

  recoverInFlight(): Promise<number> {
    return now(() => this.dispatch.recover());
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
    return now(() => withdrawForPatient(this.c, tokens, purpose, reason, stillPermitted));
  }

  // ---- operator ----

  list(filter: ListFilter = {}): Promise<ItemStatus[]> {
    return now(() => operator.list(this.c, filter));
  }

  inspect(messageId: string): Promise<MessageStatus | undefined> {
    return this.getMessage(messageId);
  }

  retryDead(filter: RetryFilter = {}, actor = 'cli'): Promise<number> {
    return now(() => operator.retryDead(this.c, filter, actor));
  }

  purge(filter: PurgeFilter, actor = 'cli'): Promise<number> {
    return now(() => operator.purge(this.c, filter, actor));
  }

  /** Deliveries per destination since an epoch ms (the console's last hour and day). */
  deliveredSince(sinceMs: number): Promise<{ destination: string; count: number }[]> {
    return now(() => operator.deliveredSince(this.c, sinceMs));
  }

  // ---- retention ----

  purgeDelivered(olderThanMs: number, opts?: RetentionOptions): Promise<RetentionCounts> {
    return now(() => purgeDelivered(this.c, olderThanMs, opts));
  }

  expireDead(olderThanMs: number): Promise<number> {
    return now(() => expireDead(this.c, olderThanMs));
  }

  /** Commits what is pending and refuses further writes. The database handle stays open (its owner closes it). */
  close(): Promise<void> {
    return now(() => {
      this.commits.close();
      this.c.index.close();
      this.checkpoints.close();
    });
  }
}
