/** The SQLite queue store's options and their defaults. */
import type { AuditSink, PayloadCipher } from '../../model/index.js';
import type { QueueObserver } from '../types.js';
import type { CheckpointOptions } from './checkpoints.js';

export const DEFAULT_MAX_BATCH = 512;
/** A claimed row's lease (informational: recoverInFlight() frees every in-flight row at start-up). */
export const DEFAULT_LEASE_MS = 5 * 60_000;
/** Refuse new messages when the file system holding the database has less than this free. */
export const DEFAULT_MIN_FREE_DISK_BYTES = 64 * 1024 * 1024;
export const DEFAULT_DISK_CHECK_MS = 1_000;
export const DEFAULT_QUOTA_RETRY_AFTER_S = 30;
/**
 * synchronous level for the dispatcher's bookkeeping transactions (claim, settle).
 * They need no fsync of their own: losing the last few of them in a power cut only
 * means rows go back to ready and are re-sent (the receiver de-duplicates by
 * Idempotency-Key), and the WAL is replayed as a prefix, so the next FULL commit
 * (an accept) makes them durable too. Acknowledged messages are always FULL.
 */
export const DEFAULT_BOOKKEEPING_SYNC = 'NORMAL';
/** Rows per transaction for operator purge and retention. */
export const PURGE_CHUNK = 500;

export interface QueueStoreOptions {
  /** Bytes of undelivered payloads (ready, in flight, dead) the queue may hold. */
  quotaBytes: number;
  cipher?: PayloadCipher;
  audit?: AuditSink;
  clock?: () => number;
  observer?: QueueObserver;
  /** Flush a group commit at once when this many accept() calls are pending. */
  maxBatch?: number;
  leaseMs?: number;
  /** 0 disables the free-disk check. */
  minFreeDiskBytes?: number;
  diskCheckMs?: number;
  /** Overrides the free-space probe (tests). */
  freeDiskBytes?: () => number;
  /** 'FULL' fsyncs every claim and settle too (slower; see DEFAULT_BOOKKEEPING_SYNC). */
  bookkeepingSync?: 'NORMAL' | 'FULL';
  /** Background WAL checkpoints (the connection's automatic checkpoint is turned off while the store is open). */
  checkpoints?: CheckpointOptions;
}
