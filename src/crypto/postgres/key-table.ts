/**
 * The wrapped data keys on PostgreSQL: the same rows as the SQLite key table (crypto_kek,
 * crypto_data_keys), so every node sharing the database, each holding the same KEK, reads
 * the keys the others made. PostgreSQL sees only wrapped keys, key ids, scopes (a day, or
 * 'consent'; a patient scope names a token, never an identifier) and times.
 *
 * A scope's key is made once for all nodes: INSERT … ON CONFLICT (scope) DO NOTHING, then
 * the stored row is read back, so two nodes racing to make it both use the one that won.
 * Migrations in darwaza_schema scope 'crypto', under the lock every darwaza scope takes.
 */
import type pg from 'pg';
import type { DataKeyRow, DataKeyTable, KekRow } from '../key-table.js';
import { migratePgPool } from '../../store/index.js';

export const PG_CRYPTO_MIGRATIONS: ReadonlyArray<{ version: number; description: string; sql: string }> = [
  {
    version: 1,
    description: 'KEK parameters (salt for a passphrase KEK, check value) and wrapped per-scope data keys',
    sql: `
      CREATE TABLE crypto_kek (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        kdf TEXT NOT NULL,
        salt BYTEA,
        ops_limit BIGINT,
        mem_limit BIGINT,
        check_value BYTEA NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE crypto_data_keys (
        scope TEXT PRIMARY KEY,
        key_id BYTEA NOT NULL UNIQUE,
        wrapped BYTEA NOT NULL,
        created_at TEXT NOT NULL
      );
    `,
  },
];


interface SqlKeyRow {
  scope: string;
  key_id: Buffer;
  wrapped: Buffer;
  created_at: string;
}
interface SqlKekRow {
  kdf: string;
  salt: Buffer | null;
  ops_limit: string | number | null;
  mem_limit: string | number | null;
  check_value: Buffer;
  created_at: string;
}

const toRow = (r: SqlKeyRow): DataKeyRow => ({ scope: r.scope, keyId: new Uint8Array(r.key_id), wrapped: new Uint8Array(r.wrapped), createdAt: r.created_at });
const num = (v: string | number | null) => (v === null ? null : Number(v));
const bytesOrNull = (b: Uint8Array | null) => (b ? Buffer.from(b) : null);
const KEY_COLUMNS = 'scope, key_id, wrapped, created_at';

async function migrate(pool: pg.Pool): Promise<void> {
  await migratePgPool(pool, 'crypto', PG_CRYPTO_MIGRATIONS);
}

/** The key table on a pool the caller owns; migrates it first (idempotent, under the lock) unless told not to. */
export async function postgresDataKeyTable(pool: pg.Pool, opts: { migrate?: boolean } = {}): Promise<DataKeyTable> {
  if (opts.migrate !== false) await migrate(pool);
  const rows = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await pool.query<R>(sql, params)).rows;
  const insertKek = (q: Pick<pg.ClientBase, 'query'>, k: KekRow) =>
    q.query(
      `INSERT INTO crypto_kek (id, kdf, salt, ops_limit, mem_limit, check_value, created_at) VALUES (1, $1, $2::bytea, $3, $4, $5::bytea, $6)
       ON CONFLICT (id) DO NOTHING`,
      [k.kdf, bytesOrNull(k.salt), k.opsLimit, k.memLimit, Buffer.from(k.checkValue), k.createdAt],
    );
  const byScope = async (scope: string) => {
    const [r] = await rows<SqlKeyRow>(`SELECT ${KEY_COLUMNS} FROM crypto_data_keys WHERE scope = $1`, [scope]);
    return r ? toRow(r) : undefined;
  };
  return {
    readKek: async () => {
      const [r] = await rows<SqlKekRow>('SELECT kdf, salt, ops_limit, mem_limit, check_value, created_at FROM crypto_kek WHERE id = 1');
      return r
        ? { kdf: r.kdf, salt: r.salt ? new Uint8Array(r.salt) : null, opsLimit: num(r.ops_limit), memLimit: num(r.mem_limit), checkValue: new Uint8Array(r.check_value), createdAt: r.created_at }
        : undefined;
    },
    insertKekIfAbsent: async (k) => ((await insertKek(pool, k)).rowCount ?? 0) === 1,
    byScope,
    byKeyId: async (keyId) => {
      const [r] = await rows<SqlKeyRow>(`SELECT ${KEY_COLUMNS} FROM crypto_data_keys WHERE key_id = $1::bytea`, [Buffer.from(keyId)]);
      return r ? toRow(r) : undefined;
    },
    insertIfAbsent: async (row) => {
      // One statement: the inserted row, or (on a lost race) the row that is there.
      const [r] = await rows<SqlKeyRow>(
        `WITH ins AS (
           INSERT INTO crypto_data_keys (scope, key_id, wrapped, created_at) VALUES ($1, $2::bytea, $3::bytea, $4)
           ON CONFLICT (scope) DO NOTHING RETURNING ${KEY_COLUMNS})
         SELECT ${KEY_COLUMNS} FROM ins`,
        [row.scope, Buffer.from(row.keyId), Buffer.from(row.wrapped), row.createdAt],
      );
      if (r) return toRow(r);
      const theirs = await byScope(row.scope);
      if (!theirs) throw new Error('data key row vanished while it was being made (shredded meanwhile?)');
      return theirs;
    },
    delete: async (scope) => ((await pool.query('DELETE FROM crypto_data_keys WHERE scope = $1', [scope])).rowCount ?? 0) > 0,
    list: async (prefix = '') =>
      (await rows<{ scope: string; created_at: string }>('SELECT scope, created_at FROM crypto_data_keys WHERE left(scope, length($1)) = $1 ORDER BY scope', [prefix])).map((r) => ({
        scope: r.scope,
        createdAt: r.created_at,
      })),
    all: async () => (await rows<SqlKeyRow>(`SELECT ${KEY_COLUMNS} FROM crypto_data_keys ORDER BY scope`)).map(toRow),
    rewrap: async (kek, wrapped) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        try {
          await client.query('DELETE FROM crypto_kek');
          await insertKek(client, kek);
          if (wrapped.length) {
            await client.query(
              'UPDATE crypto_data_keys k SET wrapped = w.wrapped FROM unnest($1::text[], $2::bytea[]) AS w(scope, wrapped) WHERE k.scope = w.scope',
              [wrapped.map((w) => w.scope), wrapped.map((w) => Buffer.from(w.wrapped))],
            );
          }
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      } finally {
        client.release();
      }
    },
  };
}
