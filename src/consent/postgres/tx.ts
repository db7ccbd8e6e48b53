/**
 * Transactions and errors of the consent stores on PostgreSQL. A database that cannot be
 * reached becomes the queue's StoreUnavailableError (a QuotaExceededError: 503 + Retry-After
 * at ingress), any other database error one that names its SQLSTATE and never a row value;
 * the registry's own errors (validation, not found, unreadable) pass unchanged.
 */
import type pg from 'pg';
import { inPgTransaction } from '../../store/index.js';

/** A connection inside a transaction, or the pool for one statement. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/** The queue's error helpers, loaded when a PostgreSQL store opens (so a gateway on SQLite never loads the driver). */
export interface PgErrorKit {
  isUnavailable(err: unknown): boolean;
  StoreUnavailableError: new (code: string) => Error;
}

export async function loadErrorKit(): Promise<PgErrorKit> {
  const m = await import('../../queue/postgres/index.js');
  return { isUnavailable: m.isUnavailable, StoreUnavailableError: m.StoreUnavailableError };
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

export function mapError(kit: PgErrorKit, err: unknown): Error {
  const code = String((err as { code?: unknown })?.code ?? '');
  if (kit.isUnavailable(err)) return new kit.StoreUnavailableError(code || 'connection');
  if (SQLSTATE.test(code)) return new Error(`consent database operation failed (${code})`);
  return err instanceof Error ? err : new Error('consent database operation failed');
}

/** Runs fn in one transaction on one pooled connection; a broken connection is discarded, errors are mapped. */
export function inTx<T>(pool: pg.Pool, kit: PgErrorKit, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return inPgTransaction(pool, (err) => mapError(kit, err), fn);
}

/** One statement outside a transaction, errors mapped. */
export async function query<R extends pg.QueryResultRow>(pool: pg.Pool, kit: PgErrorKit, sql: string, params: unknown[] = []): Promise<R[]> {
  try {
    return (await pool.query<R>(sql, params)).rows;
  } catch (err) {
    throw mapError(kit, err);
  }
}

/** A cipher that may need an async step before a scope's key can be used (the shared at-rest cipher on PostgreSQL). */
export interface PreparableCipher {
  prepare?(scopes: readonly string[]): Promise<void>;
}
