/** What the PostgreSQL store's parts share: the pool, this node's id, the collaborators and the quota count. */
import type pg from 'pg';
import type { AuditEvent, AuditSink, PayloadCipher } from '../../model/index.js';
import type { HeldBytes } from '../sqlite/index.js';
import type { QueueObserver } from '../types.js';
import { mapPgError } from './errors.js';
import { inPgTransaction } from '../../store/index.js';
import type { TxAuditLog } from './options.js';

export interface PgContext {
  readonly pool: pg.Pool;
  readonly nodeId: string;
  readonly cipher: PayloadCipher;
  /** After commit. */
  readonly audit: AuditSink;
  /** Inside the transaction (the shared log), when configured. */
  readonly txAudit?: TxAuditLog;
  readonly clock: () => number;
  readonly observer: QueueObserver;
  readonly held: HeldBytes;
  /** Bumped by every local change of the held count (a periodic refresh racing one is dropped). */
  heldGeneration: number;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** Runs fn in one transaction on one pooled connection; a broken connection is discarded, errors are mapped. */
export function inTx<T>(c: PgContext, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return inPgTransaction(c.pool, mapPgError, fn);
}

/**
 * Appends the transaction's audit events to the shared log inside it: call it last, just
 * before COMMIT (the log's append lock is held until the transaction ends).
 */
export async function auditInTx(c: PgContext, q: Queryable, events: AuditEvent[]): Promise<void> {
  if (events.length && c.txAudit) await c.txAudit.append(events, q);
}

/** One statement outside a transaction, errors mapped. */
export async function query<R extends pg.QueryResultRow>(c: PgContext, sql: string, params: unknown[] = []): Promise<R[]> {
  try {
    return (await c.pool.query<R>(sql, params)).rows;
  } catch (err) {
    throw mapPgError(err);
  }
}

/** Adds to the held count (and marks a refresh in flight as stale). */
export function changeHeld(c: PgContext, delta: number): void {
  if (!delta) return;
  c.held.change(delta);
  c.heldGeneration++;
}

export { valuesList, chunks } from '../../store/index.js';
