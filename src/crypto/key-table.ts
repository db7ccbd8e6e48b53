/**
 * Where the KEK's parameters and the wrapped data keys are kept, as an async interface: the
 * operations the at-rest cipher needs of its key table (by scope, by key id, insert if absent,
 * delete, list, rewrap), so the table can live in the node's SQLite file or in a PostgreSQL
 * database shared by several nodes (./postgres/key-table.ts). The rows are the same in both:
 * a data key is only ever stored wrapped under the KEK, bound to its scope and key id.
 */
import type { Db } from '../store/index.js';
import { migrate } from '../store/index.js';
import { CRYPTO_MIGRATIONS } from './at-rest.js';
import { KekError } from './errors.js';

export interface DataKeyRow {
  scope: string;
  /** 16 random bytes, also in every ciphertext made with the key. */
  keyId: Uint8Array;
  /** nonce(24) ‖ XChaCha20-Poly1305(KEK, data key), associated data binding scope and key id. */
  wrapped: Uint8Array;
  createdAt: string;
}

export interface KekRow {
  /** 'raw' (file/env key) or 'argon2id13' (passphrase). */
  kdf: string;
  salt: Uint8Array | null;
  opsLimit: number | null;
  memLimit: number | null;
  /** BLAKE2b-128 keyed by the KEK: a wrong KEK is found at start-up. */
  checkValue: Uint8Array;
  createdAt: string;
}

export interface DataKeyTable {
  readKek(): Promise<KekRow | undefined>;
  /** Records the KEK unless one is recorded; true when this call recorded it. */
  insertKekIfAbsent(row: KekRow): Promise<boolean>;
  byScope(scope: string): Promise<DataKeyRow | undefined>;
  byKeyId(keyId: Uint8Array): Promise<DataKeyRow | undefined>;
  /** Inserts the row unless its scope has a key; returns the scope's key as stored (ours, or the one another node made first). */
  insertIfAbsent(row: DataKeyRow): Promise<DataKeyRow>;
  /** Deletes a scope's key; true when there was one. */
  delete(scope: string): Promise<boolean>;
  /** Scopes holding a key, by prefix, in scope order. */
  list(prefix?: string): Promise<Array<{ scope: string; createdAt: string }>>;
  all(): Promise<DataKeyRow[]>;
  /** Replaces the KEK record and re-wrapped keys in one transaction (KEK rotation). */
  rewrap(kek: KekRow, rows: ReadonlyArray<{ scope: string; wrapped: Uint8Array }>): Promise<void>;
}

interface SqlKeyRow {
  scope: string;
  key_id: Buffer;
  wrapped: Buffer;
  created_at: string;
}
interface SqlKekRow {
  kdf: string;
  salt: Buffer | null;
  ops_limit: number | null;
  mem_limit: number | null;
  check_value: Buffer;
  created_at: string;
}

const toRow = (r: SqlKeyRow): DataKeyRow => ({ scope: r.scope, keyId: new Uint8Array(r.key_id), wrapped: new Uint8Array(r.wrapped), createdAt: r.created_at });
const bytesOrNull = (b: Uint8Array | null) => (b ? Buffer.from(b) : null);

/** The node's SQLite key table (crypto_kek, crypto_data_keys: the tables openAtRestCipher uses). */
export function sqliteDataKeyTable(db: Db): DataKeyTable {
  migrate(db, 'crypto', CRYPTO_MIGRATIONS);
  const q = {
    kek: db.prepare<[], SqlKekRow>('SELECT kdf, salt, ops_limit, mem_limit, check_value, created_at FROM crypto_kek WHERE id = 1'),
    insertKek: db.prepare(
      'INSERT INTO crypto_kek (id, kdf, salt, ops_limit, mem_limit, check_value, created_at) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
    ),
    deleteKek: db.prepare('DELETE FROM crypto_kek'),
    byScope: db.prepare<[string], SqlKeyRow>('SELECT scope, key_id, wrapped, created_at FROM crypto_data_keys WHERE scope = ?'),
    byKeyId: db.prepare<[Buffer], SqlKeyRow>('SELECT scope, key_id, wrapped, created_at FROM crypto_data_keys WHERE key_id = ?'),
    insert: db.prepare('INSERT INTO crypto_data_keys (scope, key_id, wrapped, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO NOTHING'),
    del: db.prepare('DELETE FROM crypto_data_keys WHERE scope = ?'),
    all: db.prepare<[], SqlKeyRow>('SELECT scope, key_id, wrapped, created_at FROM crypto_data_keys ORDER BY scope'),
    list: db.prepare<[string, string], { scope: string; created_at: string }>(
      'SELECT scope, created_at FROM crypto_data_keys WHERE substr(scope, 1, length(?)) = ? ORDER BY scope',
    ),
    updateWrapped: db.prepare('UPDATE crypto_data_keys SET wrapped = ? WHERE scope = ?'),
  };
  const insertKek = (k: KekRow) => q.insertKek.run(k.kdf, bytesOrNull(k.salt), k.opsLimit, k.memLimit, Buffer.from(k.checkValue), k.createdAt).changes === 1;
  return {
    readKek: async () => {
      const r = q.kek.get();
      return r
        ? { kdf: r.kdf, salt: r.salt ? new Uint8Array(r.salt) : null, opsLimit: r.ops_limit, memLimit: r.mem_limit, checkValue: new Uint8Array(r.check_value), createdAt: r.created_at }
        : undefined;
    },
    insertKekIfAbsent: async (k) => insertKek(k),
    byScope: async (scope) => {
      const r = q.byScope.get(scope);
      return r ? toRow(r) : undefined;
    },
    byKeyId: async (keyId) => {
      const r = q.byKeyId.get(Buffer.from(keyId));
      return r ? toRow(r) : undefined;
    },
    insertIfAbsent: async (row) => {
      q.insert.run(row.scope, Buffer.from(row.keyId), Buffer.from(row.wrapped), row.createdAt);
      return toRow(q.byScope.get(row.scope) as SqlKeyRow);
    },
    delete: async (scope) => q.del.run(scope).changes > 0,
    list: async (prefix = '') => q.list.all(prefix, prefix).map((r) => ({ scope: r.scope, createdAt: r.created_at })),
    all: async () => q.all.all().map(toRow),
    rewrap: async (kek, rows) => {
      db.transaction(() => {
        q.deleteKek.run();
        insertKek(kek);
        for (const r of rows) q.updateWrapped.run(Buffer.from(r.wrapped), r.scope);
      })();
    },
  };
}

/**
 * Copies the KEK record and every wrapped data key from one table to another (an appliance's
 * SQLite file to the PostgreSQL of a pair), unchanged: the keys stay wrapped under the same
 * KEK, so rows sealed under them read back on the target. Refuses a target set up with another
 * KEK, or holding another key for a scope (rows sealed under the copied key would be lost).
 * Safe to run again. Returns how many of the source's keys the target holds now.
 */
export async function copyDataKeys(from: DataKeyTable, to: DataKeyTable): Promise<number> {
  const kek = await from.readKek();
  if (!kek) return 0;
  const theirs = (await to.readKek()) ?? ((await to.insertKekIfAbsent(kek)) ? kek : await to.readKek());
  if (!theirs || Buffer.compare(Buffer.from(theirs.checkValue), Buffer.from(kek.checkValue)) !== 0 || theirs.kdf !== kek.kdf) {
    throw new KekError('the target key table was set up with another KEK: its keys and these cannot be mixed');
  }
  let copied = 0;
  for (const row of await from.all()) {
    const live = await to.insertIfAbsent(row);
    if (Buffer.compare(Buffer.from(live.keyId), Buffer.from(row.keyId)) !== 0) {
      throw new KekError(`scope ${row.scope} already has another data key on the target: copying would orphan what was sealed under either`);
    }
    copied++;
  }
  return copied;
}
