/**
 * What every store on PostgreSQL (queue, audit log, consents) shares.
 *
 * migratePg: forward-only migrations of one scope, recorded in `darwaza_schema`, in one
 * transaction under one advisory lock for every scope, so nodes starting together migrate once.
 *
 * inPgTransaction: one transaction on one pooled connection. A connection the server drops while it is checked out emits 'error':
 * heard here (unheard it would crash the process) and discarded from the pool with any
 * connection whose ROLLBACK failed. Errors go through the store's own `mapError` (which turns
 * an unreachable database into 503 + Retry-After, and names a SQLSTATE, never a value).
 * Only the pg types are imported: a gateway on SQLite never loads the driver.
 */
import type pg from 'pg';

export async function inPgTransaction<T>(pool: pg.Pool, mapError: (err: unknown) => unknown, fn: (q: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw mapError(err);
  }
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw mapError(err);
  } finally {
    client.off('error', onError);
    client.release(broken || undefined);
  }
}

/**
 * "($1, $2), ($3, $4)…" for a multi-row INSERT of rows × cols parameters. `casts` types the
 * columns (e.g. 'bytea'): a parameter of unknown type would be read as text.
 */
export function valuesList(rows: number, cols: number, casts: readonly (string | undefined)[] = []): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let k = 1; k <= cols; k++) cells.push(`$${r * cols + k}${casts[k - 1] ? `::${casts[k - 1]}` : ''}`);
    out.push(`(${cells.join(', ')})`);
  }
  return out.join(', ');
}

/** Splits an array into chunks of at most n (a statement's parameters are limited to 65,535). */
export function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

export interface PgMigration {
  version: number;
  description: string;
  sql: string;
}

/** Arbitrary constant naming the migration lock (pg_advisory_xact_lock), shared by every scope. */
const MIGRATION_LOCK = 0x64_61_72_77;

/** Applies what is missing of one scope, in one transaction, under the migration lock; returns the version. */
export async function migratePg(client: pg.PoolClient, scope: string, migrations: readonly PgMigration[]): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS darwaza_schema (scope TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    const r = await client.query<{ version: number }>('SELECT version FROM darwaza_schema WHERE scope = $1', [scope]);
    let version = r.rows[0]?.version ?? 0;
    for (const m of migrations) {
      if (m.version <= version) continue;
      await client.query(m.sql);
      version = m.version;
    }
    await client.query(
      'INSERT INTO darwaza_schema (scope, version) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET version = excluded.version',
      [scope, version],
    );
    await client.query('COMMIT');
    return version;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** migratePg on a connection of its own from the pool. */
export async function migratePgPool(pool: pg.Pool, scope: string, migrations: readonly PgMigration[]): Promise<number> {
  const client = await pool.connect();
  try {
    return await migratePg(client, scope, migrations);
  } finally {
    client.release();
  }
}
