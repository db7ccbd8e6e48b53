/** The PostgreSQL queue store's options and their defaults. */
import { hostname } from 'node:os';
import type { AuditEvent, AuditSink, PayloadCipher } from '../../model/index.js';
import type { QueueObserver } from '../types.js';
import type { Queryable } from './context.js';

/** The part of PostgresAuditLog the store uses (structural, so the queue does not depend on the audit folder's internals). */
export interface TxAuditLog {
  append(events: AuditEvent[], tx: Queryable): Promise<unknown>;
  /** Throws if an event would be refused; accept() asks first, so a bad write fails alone, not its batch. */
  check?(events: AuditEvent[]): void;
}

/** A claimed row's lease: past it, any node's reclaimExpiredLeases() makes the row ready again. */
export const DEFAULT_PG_LEASE_MS = 2 * 60_000;
/** How often the in-memory quota count is re-read (other nodes write too). */
export const DEFAULT_HELD_REFRESH_MS = 2_000;
export const DEFAULT_POOL_MAX = 10;
/** Retry-After while the database cannot be reached. */
export const UNAVAILABLE_RETRY_AFTER_S = 5;
/** Rows per multi-row INSERT (PostgreSQL takes at most 65535 parameters per statement). */
export const ROWS_PER_INSERT = 1_000;

export interface PostgresQueueStoreOptions {
  /** postgres://user@host:port/db */
  url: string;
  /** Bytes of undelivered payloads (ready, in flight, dead) the queue may hold, over all nodes. */
  quotaBytes: number;
  /** Names this node in leases (default host:pid). */
  nodeId?: string;
  pool?: { max?: number; connectionTimeoutMillis?: number; idleTimeoutMillis?: number };
  cipher?: PayloadCipher;
  /** A sink told of audit events once their transaction committed (a node's own SQLite log, or a test's). */
  audit?: AuditSink;
  /**
   * The audit log shared on this database (PostgresAuditLog): events are appended inside the
   * transaction of the change they record, as its last statement, so both commit or neither.
   */
  auditLog?: TxAuditLog;
  clock?: () => number;
  observer?: QueueObserver;
  /** Flush a group commit at once when this many accept() calls are pending. */
  maxBatch?: number;
  leaseMs?: number;
  heldRefreshMs?: number;
}

export const defaultNodeId = (): string => `${hostname()}:${process.pid}`;
