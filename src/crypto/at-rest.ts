/**
 * Encryption at rest for the queue, consent store and anything else that keeps PHI in
 * the shared SQLite file. Implements the model's PayloadCipher.
 *
 * - One 32-byte data key per scope ('d:2026-11-26' per day, 'p:<patient token>' per
 *   patient, 'consent', ...), made on first use, stored WRAPPED under the KEK in
 *   crypto_data_keys, cached unwrapped in memory.
 * - Ciphertext v2 = 0x02 ‖ keyId(16) ‖ nonce(24) ‖ XChaCha20-Poly1305(dataKey, nonce,
 *   aad = "darwaza-at-rest-v2\0" ‖ 0x02 ‖ keyId ‖ u32be(len scope) ‖ UTF-8(scope) ‖ rowAad, plain)
 *   — 57 bytes overhead. rowAad (bindRow in row-aad.ts) names the row the ciphertext belongs
 *   to (a consent's id, version and status; a queue item's message id and destination), so a
 *   ciphertext copied to another row, or a row whose clear columns were edited, fails to decrypt.
 * - v1 (no row binding) is never accepted by decrypt(); only rebindLegacy() reads it, once,
 *   to re-encrypt rows written before v2 (see rebind.ts).
 * - shred(scope) deletes the wrapped key (secure_delete=ON zeroes the row) and runs
 *   wal_checkpoint(TRUNCATE) so no copy of the page stays in the WAL.
 * What shredding does not reach (backups, SSD wear levelling) is in docs/crypto.md.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/index.js';
import { migrate, type Migration } from '../store/index.js';
import type { PayloadCipher } from '../model/index.js';
import { getSodium, sodiumSync } from './sodium.js';
import { bytesEqual, concatBytes, hex, utf8 } from './encoding.js';
import { DataKeyGoneError, KekError, PayloadTamperedError } from './errors.js';
import { DEFAULT_PWHASH_MEM, DEFAULT_PWHASH_OPS, loadKek, type KdfParams, type KekSource } from './kek.js';

export const AT_REST_VERSION = 0x02;
/** The format before row binding: read only by rebindLegacy(). */
export const AT_REST_LEGACY_VERSION = 0x01;
const KEY_ID_BYTES = 16;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES;
export const AT_REST_OVERHEAD = HEADER_BYTES + TAG_BYTES;
const AAD_PREFIX_V1 = utf8('darwaza-at-rest-v1\0');
const AAD_PREFIX = utf8('darwaza-at-rest-v2\0');
const WRAP_PREFIX = utf8('darwaza-data-key-v1\0');
const CHECK_CONTEXT = utf8('darwaza-kek-check-v1');
export const DEFAULT_KEY_CACHE_SIZE = 100_000;

export const CRYPTO_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'KEK parameters (salt for a passphrase KEK, check value) and wrapped per-scope data keys',
    up(db) {
      db.exec(`CREATE TABLE crypto_kek (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        kdf TEXT NOT NULL,            -- 'raw' (file/env key) or 'argon2id13' (passphrase)
        salt BLOB,
        ops_limit INTEGER,
        mem_limit INTEGER,
        check_value BLOB NOT NULL,    -- BLAKE2b-128 keyed by the KEK: detects a wrong KEK at start-up
        created_at TEXT NOT NULL
      ) STRICT`);
      db.exec(`CREATE TABLE crypto_data_keys (
        scope TEXT PRIMARY KEY,
        key_id BLOB NOT NULL UNIQUE,  -- 16 random bytes, also in every ciphertext
        wrapped BLOB NOT NULL,        -- nonce(24) ‖ XChaCha20-Poly1305(KEK, data key), aad binds scope + key id
        created_at TEXT NOT NULL
      ) STRICT`);
    },
  },
];

export interface AtRestOptions {
  kek: KekSource;
  clock?: () => Date;
  /** Unwrapped data keys kept in memory (cleared when exceeded). */
  keyCacheSize?: number;
}

export interface ShredResult {
  /** A key existed for the scope and was deleted. */
  existed: boolean;
  /** The WAL was checkpointed and truncated (false if a reader held it, or inside a transaction). */
  walTruncated: boolean;
}

export interface AtRestCipher extends PayloadCipher {
  /**
   * Re-encrypts a v1 ciphertext (bound to its scope only) as v2 bound to `aad`. For the
   * one-time migration of rows written before row binding; refuses anything but v1.
   */
  rebindLegacy(data: Uint8Array, scope: string, aad: Uint8Array): Uint8Array;
  /** shred() with its outcome. Call outside a transaction, so the WAL can be truncated. */
  shredScope(scope: string): ShredResult;
  /** Scopes that hold a key, optionally by prefix (retention: shred 'd:' days older than N). */
  scopes(prefix?: string): Array<{ scope: string; createdAt: string }>;
  /** Re-wraps every data key under a new KEK (in one transaction). */
  rotateKek(next: KekSource): Promise<void>;
  /** Forgets unwrapped keys (zeroes them). The cipher is unusable afterwards. */
  close(): void;
}

/** Associated data of a v2 ciphertext (exported so the key-table cipher writes the very same format). */
export function atRestAad(keyId: Uint8Array, scope: string, rowAad: Uint8Array): Uint8Array {
  const sc = utf8(scope);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, sc.length);
  return concatBytes(AAD_PREFIX, Uint8Array.of(AT_REST_VERSION), keyId, len, sc, rowAad);
}

/** Associated data of a wrapped data key: binds it to its scope and key id. */
export const dataKeyWrapAad = (keyId: Uint8Array, scope: string): Uint8Array => concatBytes(WRAP_PREFIX, keyId, utf8(scope));

/** Day scope for a date (UTC): 'd:YYYY-MM-DD'. */
export const dayScope = (at: Date | string): string => `d:${(typeof at === 'string' ? new Date(at) : at).toISOString().slice(0, 10)}`;
/** Patient scope for a patient token: 'p:<token>'. */
export const patientScope = (token: string): string => `p:${token}`;

interface KeyRow {
  scope: string;
  key_id: Buffer;
  wrapped: Buffer;
  created_at: string;
}

/** Opens the cipher on the shared database: migrates, loads the KEK and checks it against the database. */
export async function openAtRestCipher(db: Db, options: AtRestOptions): Promise<AtRestCipher> {
  const s = await getSodium();
  migrate(db, 'crypto', CRYPTO_MIGRATIONS);
  const clock = options.clock ?? (() => new Date());
  const cacheSize = options.keyCacheSize ?? DEFAULT_KEY_CACHE_SIZE;
  let kek = await establishKek(db, options.kek, clock);

  const q = {
    byScope: db.prepare<[string], KeyRow>('SELECT scope, key_id, wrapped, created_at FROM crypto_data_keys WHERE scope = ?'),
    byKeyId: db.prepare<[Buffer], { scope: string }>('SELECT scope FROM crypto_data_keys WHERE key_id = ?'),
    insert: db.prepare('INSERT INTO crypto_data_keys (scope, key_id, wrapped, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO NOTHING'),
    del: db.prepare('DELETE FROM crypto_data_keys WHERE scope = ?'),
    all: db.prepare<[], KeyRow>('SELECT scope, key_id, wrapped, created_at FROM crypto_data_keys'),
    list: db.prepare<[string, string], { scope: string; created_at: string }>(
      "SELECT scope, created_at FROM crypto_data_keys WHERE substr(scope, 1, length(?)) = ? ORDER BY scope",
    ),
    updateWrapped: db.prepare('UPDATE crypto_data_keys SET wrapped = ? WHERE scope = ?'),
  };
  const cache = new Map<string, Uint8Array>();
  let closed = false;

  const wrapAad = dataKeyWrapAad;
  const wrap = (key: Uint8Array, keyId: Uint8Array, scope: string, withKek: Uint8Array) => {
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    return concatBytes(nonce, s.crypto_aead_xchacha20poly1305_ietf_encrypt(key, wrapAad(keyId, scope), null, nonce, withKek));
  };
  const unwrap = (row: KeyRow, withKek: Uint8Array): Uint8Array => {
    const w = new Uint8Array(row.wrapped);
    try {
      return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, w.subarray(NONCE_BYTES), wrapAad(new Uint8Array(row.key_id), row.scope), w.subarray(0, NONCE_BYTES), withKek);
    } catch {
      throw new KekError(`data key ${hex(row.key_id)} does not unwrap: its row was altered or the KEK is wrong`);
    }
  };
  const keyOf = (row: KeyRow): Uint8Array => {
    const id = hex(row.key_id);
    let key = cache.get(id);
    if (!key) {
      key = unwrap(row, kek);
      if (cache.size >= cacheSize) forget();
      cache.set(id, key);
    }
    return key;
  };
  const forget = () => {
    for (const k of cache.values()) k.fill(0);
    cache.clear();
  };
  const checkScope = (scope: unknown) => {
    if (closed) throw new Error('at-rest cipher is closed');
    if (typeof scope !== 'string' || scope.length === 0 || scope.length > 512) throw new TypeError('scope: expected a non-empty string');
  };
  const aadOf = atRestAad;
  const legacyAadOf = (keyId: Uint8Array, scope: string) => concatBytes(AAD_PREFIX_V1, Uint8Array.of(AT_REST_LEGACY_VERSION), keyId, utf8(scope));
  const checkAad = (aad: unknown) => {
    if (!(aad instanceof Uint8Array)) throw new TypeError('aad: expected bytes naming the row (bindRow)');
  };

  /** The key of a ciphertext's scope (header checked): throws PayloadTamperedError / DataKeyGoneError. */
  function keyFor(data: Uint8Array, scope: string, version: number): { keyId: Uint8Array; key: Uint8Array } {
    if (!(data instanceof Uint8Array) || data.length < AT_REST_OVERHEAD) throw new PayloadTamperedError('ciphertext is truncated');
    if (data[0] !== version) {
      throw new PayloadTamperedError(
        data[0] === AT_REST_LEGACY_VERSION ? 'ciphertext is in the format without row binding (v1), refused' : `unknown ciphertext format version ${data[0]}`,
      );
    }
    const keyId = data.subarray(1, 1 + KEY_ID_BYTES);
    const row = q.byScope.get(scope);
    if (!row || !bytesEqual(new Uint8Array(row.key_id), keyId)) {
      if (q.byKeyId.get(Buffer.from(keyId))) throw new PayloadTamperedError('ciphertext does not belong to this scope');
      throw new DataKeyGoneError(`data key ${hex(keyId)} no longer exists (shredded): the payload is unrecoverable`);
    }
    try {
      return { keyId, key: keyOf(row) };
    } catch {
      throw new PayloadTamperedError(`data key ${hex(keyId)} does not unwrap: its stored row was altered`);
    }
  }
  const open = (data: Uint8Array, ad: Uint8Array, key: Uint8Array, what: string) => {
    try {
      return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, data.subarray(HEADER_BYTES), ad, data.subarray(1 + KEY_ID_BYTES, HEADER_BYTES), key);
    } catch {
      throw new PayloadTamperedError(what);
    }
  };

  /** The live key row of a scope, made on first use (another process may win the race: we take its key). */
  function liveRow(scope: string): KeyRow {
    let row = q.byScope.get(scope);
    if (!row) {
      const key = new Uint8Array(randomBytes(32));
      const keyId = new Uint8Array(randomBytes(KEY_ID_BYTES));
      q.insert.run(scope, Buffer.from(keyId), Buffer.from(wrap(key, keyId, scope, kek)), clock().toISOString());
      row = q.byScope.get(scope) as KeyRow;
      if (bytesEqual(new Uint8Array(row.key_id), keyId)) {
        if (cache.size >= cacheSize) forget();
        cache.set(hex(keyId), key);
      } else key.fill(0); // another connection made this scope's key first: use theirs
    }
    return row;
  }

  const cipher: AtRestCipher = {
    encrypt(plain, scope, aad) {
      checkScope(scope);
      if (!(plain instanceof Uint8Array)) throw new TypeError('plain: expected bytes');
      checkAad(aad);
      const row = liveRow(scope);
      const keyId = new Uint8Array(row.key_id);
      const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
      const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, aadOf(keyId, scope, aad), null, nonce, keyOf(row));
      const out = new Uint8Array(HEADER_BYTES + ct.length);
      out[0] = AT_REST_VERSION;
      out.set(keyId, 1);
      out.set(nonce, 1 + KEY_ID_BYTES);
      out.set(ct, HEADER_BYTES);
      return out;
    },
    decrypt(data, scope, aad) {
      checkScope(scope);
      checkAad(aad);
      const { keyId, key } = keyFor(data, scope, AT_REST_VERSION);
      return open(data, aadOf(keyId, scope, aad), key, 'ciphertext failed authentication (altered, or moved from another row)');
    },
    rebindLegacy(data, scope, aad) {
      checkScope(scope);
      checkAad(aad);
      const { keyId, key } = keyFor(data, scope, AT_REST_LEGACY_VERSION);
      const plain = open(data, legacyAadOf(keyId, scope), key, 'v1 ciphertext failed authentication (altered)');
      try {
        return cipher.encrypt(plain, scope, aad);
      } finally {
        plain.fill(0);
      }
    },
    shred(scope) {
      cipher.shredScope(scope);
    },
    shredScope(scope) {
      checkScope(scope);
      const row = q.byScope.get(scope);
      if (row) {
        const id = hex(row.key_id);
        cache.get(id)?.fill(0);
        cache.delete(id);
        q.del.run(scope);
      }
      return { existed: !!row, walTruncated: truncateWal(db) };
    },
    scopes(prefix = '') {
      return q.list.all(prefix, prefix).map((r) => ({ scope: r.scope, createdAt: r.created_at }));
    },
    async rotateKek(next) {
      const rows = q.all.all();
      const keys = rows.map((r) => ({ row: r, key: unwrap(r, kek) }));
      const fresh = await prepareKek(next);
      db.transaction(() => {
        db.prepare('DELETE FROM crypto_kek').run();
        insertKekRow(db, fresh, clock);
        for (const { row, key } of keys) {
          q.updateWrapped.run(Buffer.from(wrap(key, new Uint8Array(row.key_id), row.scope, fresh.kek)), row.scope);
        }
      })();
      kek.fill(0);
      kek = fresh.kek;
      truncateWal(db);
    },
    close() {
      forget();
      kek.fill(0);
      closed = true;
    },
  };
  return cipher;
}

/** wal_checkpoint(TRUNCATE): copies the WAL into the database and truncates it to 0 bytes. */
function truncateWal(db: Db): boolean {
  if (db.inTransaction) return false;
  try {
    const r = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    return r[0]?.busy === 0;
  } catch {
    return false;
  }
}

interface KekRow {
  kdf: string;
  salt: Buffer | null;
  ops_limit: number | null;
  mem_limit: number | null;
  check_value: Buffer;
}

export async function prepareKek(source: KekSource): Promise<{ kek: Uint8Array; params?: KdfParams }> {
  if (source.from !== 'passphrase') return { kek: await loadKek(source) };
  const s = await getSodium();
  const params: KdfParams = {
    kdf: 'argon2id13',
    salt: s.randombytes_buf(s.crypto_pwhash_SALTBYTES),
    opsLimit: source.opsLimit ?? DEFAULT_PWHASH_OPS,
    memLimitBytes: source.memLimitBytes ?? DEFAULT_PWHASH_MEM,
  };
  return { kek: await loadKek(source, params), params };
}

export function checkValue(kek: Uint8Array): Uint8Array {
  return sodiumSync().crypto_generichash(16, CHECK_CONTEXT, kek);
}

function insertKekRow(db: Db, k: { kek: Uint8Array; params?: KdfParams }, clock: () => Date): void {
  db.prepare('INSERT INTO crypto_kek (id, kdf, salt, ops_limit, mem_limit, check_value, created_at) VALUES (1, ?, ?, ?, ?, ?, ?)').run(
    k.params ? 'argon2id13' : 'raw',
    k.params ? Buffer.from(k.params.salt) : null,
    k.params?.opsLimit ?? null,
    k.params?.memLimitBytes ?? null,
    Buffer.from(checkValue(k.kek)),
    clock().toISOString(),
  );
}

/** First open: record the KEK's parameters and check value. Later opens: derive and compare. */
async function establishKek(db: Db, source: KekSource, clock: () => Date): Promise<Uint8Array> {
  const row = db.prepare('SELECT kdf, salt, ops_limit, mem_limit, check_value FROM crypto_kek WHERE id = 1').get() as KekRow | undefined;
  if (!row) {
    const fresh = await prepareKek(source);
    let inserted = false;
    db.transaction(() => {
      // Another process may have set it up between our read and now: keep theirs.
      if (db.prepare('SELECT 1 FROM crypto_kek WHERE id = 1').get()) return;
      insertKekRow(db, fresh, clock);
      inserted = true;
    })();
    if (inserted) return fresh.kek;
    fresh.kek.fill(0);
    return establishKek(db, source, clock);
  }
  let kek: Uint8Array;
  if (row.kdf === 'argon2id13') {
    if (source.from !== 'passphrase') throw new KekError('this database was set up with a passphrase KEK: configure keys.kek.from = "passphrase"');
    kek = await loadKek(source, { kdf: 'argon2id13', salt: new Uint8Array(row.salt as Buffer), opsLimit: row.ops_limit as number, memLimitBytes: row.mem_limit as number });
  } else {
    if (source.from === 'passphrase') throw new KekError('this database was set up with a key-file/env KEK, not a passphrase');
    kek = await loadKek(source);
  }
  if (!bytesEqual(checkValue(kek), new Uint8Array(row.check_value))) {
    kek.fill(0);
    throw new KekError('the KEK does not match the one this database was set up with (wrong key file, variable or passphrase)');
  }
  return kek;
}
