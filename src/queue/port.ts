/**
 * The store port: what the pipeline, the dispatcher, the gateway and the operator's
 * CLI need from a queue store. SQLite (./sqlite) is the embedded implementation;
 * a networked database must be able to implement it too, so every method that would
 * need a round trip returns a Promise. atQuota() and heldPayloadBytes() stay
 * synchronous: they are asked on every request and answer from a count the store
 * keeps in memory.
 */
import type {
  AcceptWrite,
  ClaimedItem,
  CountRow,
  IdempotentAnswer,
  ItemStatus,
  ListFilter,
  MessageStatus,
  PurgeFilter,
  RetryFilter,
  Settlement,
} from './types.js';

/** Ingest: one durable commit per message, and the earlier answer for a repeated Idempotency-Key. */
export interface IngestStore {
  /** Resolves once the message is durable; rejects with QuotaExceededError, DuplicateIdempotencyKeyError or QueueWriteError. */
  accept(write: AcceptWrite): Promise<void>;
  /** The stored answer of an earlier request with this Idempotency-Key (survives restarts). */
  findIdempotent(key: string): Promise<IdempotentAnswer | undefined>;
}

/** What senders, readiness and the admin API read. */
export interface StatusStore {
  getMessage(id: string): Promise<MessageStatus | undefined>;
  /** Counts (and bytes held) per destination and state. */
  counts(): Promise<CountRow[]>;
  /** True when new messages would be refused (back-pressure, readiness). */
  atQuota(): boolean;
  /** Bytes of payloads held (ready, in flight, dead). */
  heldPayloadBytes(): number;
}

/** The dispatcher's side. */
export interface DispatchStore {
  /** Up to `limit` due rows of a destination, now in flight, decrypted: emergency lane first, then enqueue order. */
  claim(destination: string, limit: number): Promise<ClaimedItem[]>;
  /** Applies many results at once, with their audit events. */
  settle(settlements: Settlement[]): Promise<void>;
  /** The link came back: this destination's waiting rows are due now (their backoff was the link's); returns how many. */
  wake?(destination: string): Promise<number>;
  /** Per destination: epoch ms of the oldest row not yet delivered (ready or in flight). */
  oldestWaiting?(): Promise<{ destination: string; enqueuedAt: number }[]>;
}

/** Asked about each row a withdrawal would reach: true keeps it queued (another consent still permits it). */
/**
 * Whether a row the withdrawal found is still permitted by the patient's other consents. The
 * SQLite store asks inside its synchronous transaction: only `true` keeps a row there (a promise
 * withdraws it: fail closed). The PostgreSQL store awaits the answer inside its transaction.
 */
export type StillPermitted = (item: Pick<ClaimedItem, 'messageId' | 'destination' | 'patientTokens' | 'context'>) => boolean | Promise<boolean>;

export interface WithdrawalStore {
  /** Queued, retrying or dead rows of these patients become 'withdrawn' and lose their payload; returns how many. */
  withdrawForPatient(tokens: string[], purpose?: string, reason?: string, stillPermitted?: StillPermitted): Promise<number>;
}

/** The operator's commands (darwaza queue …). */
export interface OperatorStore {
  list(filter?: ListFilter): Promise<ItemStatus[]>;
  inspect(messageId: string): Promise<MessageStatus | undefined>;
  /** Dead letters that still hold their payload go back to the queue; returns how many. */
  retryDead(filter?: RetryFilter, actor?: string): Promise<number>;
  /** Dead letters lose their payload, delivered rows are marked purged; returns how many. */
  purge(filter: PurgeFilter, actor?: string): Promise<number>;
  /** Deliveries per destination since an epoch ms (the console's overview). */
  deliveredSince(sinceMs: number): Promise<{ destination: string; count: number }[]>;
}

export interface RetentionCounts {
  items: number;
  messages: number;
  scopes: number;
}

export interface RetentionOptions {
  /** Idempotency keys older than this go (default: the same window). */
  idempotencyMs?: number;
}

export interface RetentionStore {
  /** Removes finished rows, messages and idempotency keys older than the window; shreds unused key scopes. */
  purgeDelivered(olderThanMs: number, opts?: RetentionOptions): Promise<RetentionCounts>;
  /** Dead letters unchanged for longer than this lose their payload (state purged), audited; returns how many. */
  expireDead?(olderThanMs: number): Promise<number>;
}

/** The whole port. */
export interface QueueStore extends IngestStore, StatusStore, DispatchStore, WithdrawalStore, OperatorStore, RetentionStore {
  /** Start-up: rows left in flight by a crash become ready again; returns how many. */
  recoverInFlight(): Promise<number>;
  /** Commits what is pending and refuses further writes. */
  close(): Promise<void>;
}
