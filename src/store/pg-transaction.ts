/**
 * One transaction on one pooled PostgreSQL connection, for every store on PostgreSQL (queue,
 * audit log, consents). A connection the server drops while it is checked out emits 'error':
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
