/**
 * The at-rest cipher over an async key table (DataKeyTable): for gateways whose wrapped data
 * keys live in a database they share (PostgreSQL), so each node, holding the same KEK, reads
 * the rows the others sealed. Same ciphertext format, key wrapping and KEK check as
 * openAtRestCipher (at-rest.ts): a ciphertext made by either opens with the other over the
 * same rows.
 *
 * Why a loader and not the SQLite cipher's shape. PayloadCipher.encrypt/decrypt are
 * synchronous, called inside stores' transactions; the SQLite cipher reads its key table
 * synchronously on a miss, which a network database cannot do. Making the port async would
 * change every store and the message path. Instead this cipher reads every key once at open
 * and keeps them unwrapped in memory, and a scope's key is made or fetched by an async
 * prepare(scopes) before it is first used. That is cheap because keys are few and almost
 * only ever added: one per day ('d:YYYY-MM-DD'), 'consent', 'patient-memory', and a
 * patient's scope only when it is erased. What changes underneath:
 * - a key made by another node: prepare() fetches it (a scope has exactly one key, made once
 *   for all nodes by insert-if-absent), and refresh() loads every new one;
 * - a key shredded by another node: refresh() drops it here (call it after the leader's
 *   retention run, or periodically); until then this node could still open that day's rows,
 *   which the shredding node has already deleted or is about to;
 * - a new KEK (rotateKek on another node): the data keys do not change, so this node carries
 *   on; it must be given the new KEK before it opens again.
 */
import { randomBytes } from 'node:crypto';
import type { PayloadCipher } from '../model/index.js';
import { AT_REST_OVERHEAD, AT_REST_VERSION, AT_REST_LEGACY_VERSION, atRestAad, checkValue, dataKeyWrapAad, dayScope, prepareKek } from './at-rest.js';
import { bytesEqual, hex } from './encoding.js';
import { DataKeyGoneError, KekError, PayloadTamperedError } from './errors.js';
import { loadKek, type KdfParams, type KekSource } from './kek.js';
import type { DataKeyRow, DataKeyTable, KekRow } from './key-table.js';
import { getSodium } from './sodium.js';

const KEY_ID_BYTES = 16;
const NONCE_BYTES = 24;
const HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES;

export interface KeyTableCipherOptions {
  kek: KekSource;
  clock?: () => Date;
}

export interface KeyTableCipher extends PayloadCipher {
  /** Makes (or fetches another node's) keys for these scopes, so encrypt/decrypt can use them synchronously. */
  prepare(scopes: readonly string[]): Promise<void>;
  /** Re-reads the table: loads keys made elsewhere, drops keys shredded elsewhere, retries shreds that failed here. */
  refresh(): Promise<void>;
  /** Deletes a scope's key from the table (and from memory here). */
  shredScope(scope: string): Promise<{ existed: boolean }>;
  /** Scopes that hold a key, by prefix, from the table. */
  scopes(prefix?: string): Promise<Array<{ scope: string; createdAt: string }>>;
  /** Re-wraps every data key under a new KEK (one transaction of the table). */
  rotateKek(next: KekSource): Promise<void>;
  /** Scopes whose keys are in memory (tests, diagnostics). */
  loadedScopes(): string[];
  /** Zeroes the keys in memory; the cipher is unusable afterwards. */
  close(): void;
}

interface Loaded {
  scope: string;
  keyId: Uint8Array;
  key: Uint8Array;
}

/** Opens the cipher: records or checks the KEK against the table, then loads and unwraps every key. */
export async function openKeyTableCipher(table: DataKeyTable, options: KeyTableCipherOptions): Promise<KeyTableCipher> {
  const s = await getSodium();
  const clock = options.clock ?? (() => new Date());
  let kek = await establishKek(table, options.kek, clock);
  const byScope = new Map<string, Loaded>();
  const byKeyId = new Map<string, Loaded>();
  /** Scopes shredded here whose delete has not reached the table yet. */
  const toShred = new Set<string>();
  let closed = false;

  const wrap = (key: Uint8Array, keyId: Uint8Array, scope: string, withKek: Uint8Array) => {
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const sealed = s.crypto_aead_xchacha20poly1305_ietf_encrypt(key, dataKeyWrapAad(keyId, scope), null, nonce, withKek);
    const out = new Uint8Array(NONCE_BYTES + sealed.length);
    out.set(nonce);
    out.set(sealed, NONCE_BYTES);
    return out;
  };
  const unwrap = (row: DataKeyRow, withKek: Uint8Array): Uint8Array => {
    try {
      return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, row.wrapped.subarray(NONCE_BYTES), dataKeyWrapAad(row.keyId, row.scope), row.wrapped.subarray(0, NONCE_BYTES), withKek);
    } catch {
      throw new KekError(`data key ${hex(row.keyId)} does not unwrap: its row was altered or the KEK is wrong`);
    }
  };
  const drop = (scope: string) => {
    const l = byScope.get(scope);
    if (!l) return;
    l.key.fill(0);
    byScope.delete(scope);
    byKeyId.delete(hex(l.keyId));
  };
  const load = (row: DataKeyRow) => {
    const have = byScope.get(row.scope);
    if (have && bytesEqual(have.keyId, row.keyId)) return;
    if (have) drop(row.scope); // shredded and made again elsewhere: the table's key is the live one
    const l = { scope: row.scope, keyId: row.keyId, key: unwrap(row, kek) };
    byScope.set(row.scope, l);
    byKeyId.set(hex(row.keyId), l);
  };
  const checkScope = (scope: unknown) => {
    if (closed) throw new Error('at-rest cipher is closed');
    if (typeof scope !== 'string' || scope.length === 0 || scope.length > 512) throw new TypeError('scope: expected a non-empty string');
  };
  const checkAad = (aad: unknown) => {
    if (!(aad instanceof Uint8Array)) throw new TypeError('aad: expected bytes naming the row (bindRow)');
  };

  const cipher: KeyTableCipher = {
    async prepare(scopes) {
      for (const scope of new Set(scopes)) {
        checkScope(scope);
        if (byScope.has(scope) || toShred.has(scope)) continue;
        const stored = await table.byScope(scope);
        if (stored) {
          load(stored);
          continue;
        }
        const key = new Uint8Array(randomBytes(32));
        const keyId = new Uint8Array(randomBytes(KEY_ID_BYTES));
        const live = await table.insertIfAbsent({ scope, keyId, wrapped: wrap(key, keyId, scope, kek), createdAt: clock().toISOString() });
        key.fill(0); // the live row (ours, or another node's that won) is unwrapped like any other
        load(live);
      }
    },
    async refresh() {
      for (const scope of [...toShred]) {
        await table.delete(scope);
        toShred.delete(scope);
      }
      const rows = await table.all();
      const live = new Set(rows.map((r) => r.scope));
      for (const scope of [...byScope.keys()]) if (!live.has(scope)) drop(scope);
      for (const r of rows) load(r);
    },
    encrypt(plain, scope, aad) {
      checkScope(scope);
      if (!(plain instanceof Uint8Array)) throw new TypeError('plain: expected bytes');
      checkAad(aad);
      const l = byScope.get(scope);
      if (!l) throw new Error('at-rest cipher: no data key loaded for this scope (prepare() it first)');
      const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
      const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, atRestAad(l.keyId, scope, aad), null, nonce, l.key);
      const out = new Uint8Array(HEADER_BYTES + ct.length);
      out[0] = AT_REST_VERSION;
      out.set(l.keyId, 1);
      out.set(nonce, 1 + KEY_ID_BYTES);
      out.set(ct, HEADER_BYTES);
      return out;
    },
    decrypt(data, scope, aad) {
      checkScope(scope);
      checkAad(aad);
      if (!(data instanceof Uint8Array) || data.length < AT_REST_OVERHEAD) throw new PayloadTamperedError('ciphertext is truncated');
      if (data[0] !== AT_REST_VERSION) {
        throw new PayloadTamperedError(
          data[0] === AT_REST_LEGACY_VERSION ? 'ciphertext is in the format without row binding (v1), refused' : `unknown ciphertext format version ${data[0]}`,
        );
      }
      const keyId = data.subarray(1, 1 + KEY_ID_BYTES);
      const l = byKeyId.get(hex(keyId));
      if (!l || l.scope !== scope) {
        if (l) throw new PayloadTamperedError('ciphertext does not belong to this scope');
        throw new DataKeyGoneError(`data key ${hex(keyId)} is not known here (shredded, or not prepared): the payload cannot be opened`);
      }
      try {
        return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, data.subarray(HEADER_BYTES), atRestAad(keyId, scope, aad), data.subarray(1 + KEY_ID_BYTES, HEADER_BYTES), l.key);
      } catch {
        throw new PayloadTamperedError('ciphertext failed authentication (altered, or moved from another row)');
      }
    },
    /** PayloadCipher's synchronous shred: the key goes from memory at once, from the table as soon as it answers (retried by refresh()). */
    shred(scope) {
      checkScope(scope);
      drop(scope);
      toShred.add(scope);
      void table.delete(scope).then(
        () => toShred.delete(scope),
        () => {},
      );
    },
    async shredScope(scope) {
      checkScope(scope);
      drop(scope);
      const existed = await table.delete(scope);
      toShred.delete(scope);
      return { existed };
    },
    scopes: (prefix) => table.list(prefix),
    async rotateKek(next) {
      const rows = await table.all();
      const keys = rows.map((r) => ({ row: r, key: unwrap(r, kek) }));
      const fresh = await prepareKek(next);
      await table.rewrap(
        kekRow(fresh, clock),
        keys.map(({ row, key }) => ({ scope: row.scope, wrapped: wrap(key, row.keyId, row.scope, fresh.kek) })),
      );
      for (const { key } of keys) key.fill(0);
      kek.fill(0);
      kek = fresh.kek;
    },
    loadedScopes: () => [...byScope.keys()].sort(),
    close() {
      for (const scope of [...byScope.keys()]) drop(scope);
      kek.fill(0);
      closed = true;
    },
  };
  for (const row of await table.all()) load(row);
  return cipher;
}

function kekRow(k: { kek: Uint8Array; params?: KdfParams }, clock: () => Date): KekRow {
  return {
    kdf: k.params ? 'argon2id13' : 'raw',
    salt: k.params ? k.params.salt : null,
    opsLimit: k.params?.opsLimit ?? null,
    memLimit: k.params?.memLimitBytes ?? null,
    checkValue: checkValue(k.kek),
    createdAt: clock().toISOString(),
  };
}

/** First open: record the KEK's parameters and check value (another node may win: then check against theirs). Later opens: derive and compare. */
async function establishKek(table: DataKeyTable, source: KekSource, clock: () => Date): Promise<Uint8Array> {
  const row = await table.readKek();
  if (!row) {
    const fresh = await prepareKek(source);
    if (await table.insertKekIfAbsent(kekRow(fresh, clock))) return fresh.kek;
    fresh.kek.fill(0);
    return establishKek(table, source, clock);
  }
  let kek: Uint8Array;
  if (row.kdf === 'argon2id13') {
    if (source.from !== 'passphrase') throw new KekError('this database was set up with a passphrase KEK: configure keys.kek.from = "passphrase"');
    kek = await loadKek(source, { kdf: 'argon2id13', salt: row.salt as Uint8Array, opsLimit: row.opsLimit as number, memLimitBytes: row.memLimit as number });
  } else {
    if (source.from === 'passphrase') throw new KekError('this database was set up with a key-file/env KEK, not a passphrase');
    kek = await loadKek(source);
  }
  if (!bytesEqual(checkValue(kek), row.checkValue)) {
    kek.fill(0);
    throw new KekError('the KEK does not match the one this database was set up with (wrong key file, variable or passphrase)');
  }
  return kek;
}

export interface KeyRefreshOptions {
  /** How often (default one minute). */
  everyMs?: number;
  clock?: () => Date;
  /** Told when a run fails (the database is down); the next run tries again. */
  onError?: (err: unknown) => void;
}

/**
 * Keeps a node's key-table cipher current: every `everyMs`, prepares today's and tomorrow's
 * day scopes (so the key of a new day exists on every node well before its first row, and a
 * row sealed by another node never meets an unknown key) and refreshes (keys made and shredded
 * elsewhere). Runs once at once; returns stop().
 */
export function scheduleKeyRefresh(cipher: Pick<KeyTableCipher, 'prepare' | 'refresh'>, opts: KeyRefreshOptions = {}): { stop(): void; runNow(): Promise<void> } {
  const clock = opts.clock ?? (() => new Date());
  let running: Promise<void> | undefined;
  const runNow = () =>
    (running ??= (async () => {
      try {
        const now = clock();
        await cipher.prepare([dayScope(now), dayScope(new Date(now.getTime() + 86_400_000))]);
        await cipher.refresh();
      } catch (err) {
        opts.onError?.(err);
      } finally {
        running = undefined;
      }
    })());
  const timer = setInterval(() => void runNow(), opts.everyMs ?? 60_000);
  timer.unref();
  void runNow();
  return { stop: () => clearInterval(timer), runNow };
}
