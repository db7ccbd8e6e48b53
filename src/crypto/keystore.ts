/**
 * The appliance's key store: one private directory (default certs/) holding
 *
 *   signing-keys.json            which gateway signing keys exist, which one signs, which are retired
 *   signing-<keyId>.key          Ed25519 seed (base64); also derives the gateway's X25519 box key
 *   token.key                    HMAC key for pseudonymous patient tokens (never exported)
 *   kek.key                      the at-rest key-encryption key, when the KEK comes from a file
 *                                (ensureKeySet in key-set.ts makes the whole set)
 *   deid/<destination>.json      per-destination de-identification keys
 *   recipient-<dest>.key/.pub    demo recipient key pair for the built-in upstream simulator
 *
 * Directory 0700, files 0600, made with exclusive create: a key file is never overwritten.
 * Loading is idempotent: whatever is missing is made, whatever exists is kept.
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { getSodium } from './sodium.js';
import { b64, b64url, fromB64, keyIdOf } from './encoding.js';
import { KeyFileError } from './errors.js';
import { assertPrivateFile, createExclusive, destroyKeyFile, ensurePrivateDir, readKeyFile, replaceAtomic, safeName } from './keyfiles.js';
import { recipientFromSecret, signerFromSeed, type EnvelopeSigner, type PublicKeyRef, type RecipientKeyPair } from './signer.js';
import { createTokenizer } from './tokenizer.js';
import { loadOrCreateTokenKey, TOKEN_KEY_FILE } from './token-key.js';

export interface SigningKeyInfo {
  keyId: string;
  /** Ed25519 public key, base64. */
  publicKey: string;
  /** X25519 public key the gateway seals with, base64. */
  boxPublicKey: string;
  createdAt: string;
  /** Set when a newer key took over; the key stays trusted (overlap) until removed. */
  retiredAt?: string;
  active: boolean;
}

/** Per-destination keys for the de-identification engine (MS FHIR anonymizer style). */
export interface DeidKeys {
  /** Secret for date shifting (base64url of 32 random bytes). */
  dateShiftKey: string;
  /** HMAC key for cryptoHash (base64url of 32 random bytes). */
  cryptoHashKey: string;
  /** 32 ASCII characters (base64url of 24 random bytes): 32 bytes as UTF-8, i.e. an AES-256 key as the anonymizer uses it. */
  encryptKey: string;
}

export interface KeyStore {
  readonly dir: string;
  /** The active gateway signer (signs envelopes and audit tree heads; seals payloads). */
  signer(): EnvelopeSigner;
  /** A listed signing key by id (the active one or one in overlap). */
  signerById(keyId: string): EnvelopeSigner | undefined;
  /** Every listed signing key, newest first. */
  signingKeys(): SigningKeyInfo[];
  /** Public keys receivers should trust now (active + overlap). */
  trustedGatewayKeys(): PublicKeyRef[];
  /** Makes a new signing key and activates it; the previous one stays listed (overlap). */
  rotateSigningKey(now?: Date): SigningKeyInfo;
  /**
   * Ends a retired key's overlap now: it is no longer offered as trusted and its seed file is
   * destroyed (overwritten, unlinked); its public key stays in the manifest for verifying what it
   * signed. Refuses the active key.
   */
  removeSigningKey(keyId: string): void;
  /** Drops (as removeSigningKey) retired keys whose retirement is older than `overlapMs`. Returns the ids dropped. */
  pruneRetired(overlapMs: number, now?: Date): string[];
  /** Re-reads signing-keys.json (after `darwaza keys rotate` in another process). */
  reload(): void;
  /** HMAC key for patient tokens. */
  tokenKey(): Uint8Array;
  /** createTokenizer(tokenKey()), made once. */
  tokenizer(): (id: string) => string;
  /** De-identification keys for a destination, made on first use. */
  deidKeys(destination: string): DeidKeys;
  /** Demo recipient key pair for the built-in simulator, made on first use. */
  demoRecipient(destination: string): RecipientKeyPair;
  /** Path of kek.key, made (32 random bytes, 0600) if missing: for `kek: { from: 'file' }`. */
  ensureKekFile(): string;
  /** Files this store has made since it was opened, relative to `dir`, in the order made. */
  readonly created: readonly string[];
}

interface Manifest {
  version: 1;
  active: string;
  keys: Array<Omit<SigningKeyInfo, 'active'> & { removedAt?: string }>;
}

const MANIFEST = 'signing-keys.json';
/** The KEK's file when `keys.kek` is "file" (the config has no other place for it). */
export const KEK_FILE = 'kek.key';

/** Opens the key store in `certsDir`, making whatever is missing. Idempotent; never overwrites. */
export async function loadOrCreateKeyStore(certsDir: string): Promise<KeyStore> {
  await getSodium();
  ensurePrivateDir(certsDir);
  const manifestPath = join(certsDir, MANIFEST);
  const signers = new Map<string, EnvelopeSigner>();
  const created: string[] = [];
  // Exclusive create that remembers what it made (for "created …" reports).
  const make = (name: string, text: string): boolean => {
    const made = createExclusive(join(certsDir, name), text);
    if (made) created.push(name);
    return made;
  };

  const tokenKey = loadOrCreateTokenKey(join(certsDir, TOKEN_KEY_FILE));
  if (tokenKey.created) created.push(TOKEN_KEY_FILE);
  const token = tokenKey.key;
  const tokenize = createTokenizer(token);

  function loadSigner(keyId: string): EnvelopeSigner {
    let s = signers.get(keyId);
    if (!s) {
      const seed = readKeyFile(join(certsDir, `signing-${keyId}.key`), 32);
      s = signerFromSeed(seed);
      if (s.keyId !== keyId) throw new KeyFileError(`signing-${keyId}.key holds the key ${s.keyId}: the file was replaced`);
      signers.set(keyId, s);
    }
    return s;
  }

  /** A retired signing seed, once its overlap is over: overwritten and unlinked (the public key stays listed). */
  function destroySeed(keyId: string): void {
    signers.delete(keyId);
    destroyKeyFile(join(certsDir, `signing-${keyId}.key`));
  }

  function newSigningKey(now: Date): Manifest['keys'][number] {
    const seed = new Uint8Array(randomBytes(32));
    const s = signerFromSeed(seed);
    make(`signing-${s.keyId}.key`, b64(seed) + '\n');
    signers.set(s.keyId, s);
    return { keyId: s.keyId, publicKey: b64(s.publicKey), boxPublicKey: b64(s.boxPublicKey), createdAt: now.toISOString() };
  }

  function readManifest(): Manifest {
    assertPrivateFile(manifestPath);
    let m: Manifest;
    try {
      m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    } catch {
      throw new KeyFileError(`${manifestPath}: not valid JSON`);
    }
    if (m?.version !== 1 || typeof m.active !== 'string' || !Array.isArray(m.keys)) {
      throw new KeyFileError(`${manifestPath}: expected { version: 1, active, keys: [...] }`);
    }
    if (!m.keys.some((k) => k.keyId === m.active && !k.removedAt)) throw new KeyFileError(`${manifestPath}: active key ${m.active} is not listed`);
    return m;
  }

  const writeManifest = (m: Manifest) => replaceAtomic(manifestPath, JSON.stringify(m, null, 2) + '\n');

  let manifest: Manifest;
  if (existsSync(manifestPath)) {
    manifest = readManifest();
  } else {
    const first = newSigningKey(new Date());
    manifest = { version: 1, active: first.keyId, keys: [first] };
    // Exclusive create: if another process raced us, keep its manifest.
    if (!make(MANIFEST, JSON.stringify(manifest, null, 2) + '\n')) manifest = readManifest();
  }
  loadSigner(manifest.active);
  // Seeds of keys removed earlier (by a version that kept them, or before a crash) are destroyed now.
  for (const k of manifest.keys) if (k.removedAt && k.keyId !== manifest.active) destroySeed(k.keyId);

  const listed = () => manifest.keys.filter((k) => !k.removedAt);
  const info = (k: Manifest['keys'][number]): SigningKeyInfo => {
    const { removedAt: _r, ...rest } = k;
    return { ...rest, active: k.keyId === manifest.active };
  };

  const store: KeyStore = {
    dir: certsDir,
    signer: () => loadSigner(manifest.active),
    signerById: (keyId) => (listed().some((k) => k.keyId === keyId) ? loadSigner(keyId) : undefined),
    signingKeys: () => listed().map(info).reverse(),
    trustedGatewayKeys: () => listed().map((k) => ({ keyId: k.keyId, publicKey: fromB64(k.publicKey, 'publicKey', 32) })),
    rotateSigningKey(now = new Date()) {
      manifest = readManifest(); // another process (the CLI) may have changed it
      const next = newSigningKey(now);
      for (const k of manifest.keys) if (k.keyId === manifest.active) k.retiredAt = now.toISOString();
      manifest.keys.push(next);
      manifest.active = next.keyId;
      writeManifest(manifest);
      return info(next);
    },
    removeSigningKey(keyId) {
      manifest = readManifest();
      if (keyId === manifest.active) throw new KeyFileError(`key ${keyId} is the active signing key: rotate first`);
      const k = manifest.keys.find((x) => x.keyId === keyId && !x.removedAt);
      if (!k) throw new KeyFileError(`no listed signing key ${keyId}`);
      k.removedAt = new Date().toISOString();
      signers.delete(keyId);
      // The manifest first: a crash between the two leaves a listed-as-removed key whose seed the next open destroys.
      writeManifest(manifest);
      destroySeed(keyId);
    },
    pruneRetired(overlapMs, now = new Date()) {
      manifest = readManifest();
      const dropped: string[] = [];
      for (const k of manifest.keys) {
        if (k.removedAt || !k.retiredAt || k.keyId === manifest.active) continue;
        if (now.getTime() - Date.parse(k.retiredAt) >= overlapMs) {
          k.removedAt = now.toISOString();
          signers.delete(k.keyId);
          dropped.push(k.keyId);
        }
      }
      if (dropped.length) writeManifest(manifest);
      for (const id of dropped) destroySeed(id);
      return dropped;
    },
    reload() {
      manifest = readManifest();
      loadSigner(manifest.active);
    },
    tokenKey: () => token,
    tokenizer: () => tokenize,
    deidKeys(destination) {
      const file = join(certsDir, 'deid', `${safeName(destination)}.json`);
      ensurePrivateDir(join(certsDir, 'deid'));
      make(
        join('deid', `${safeName(destination)}.json`),
        JSON.stringify({
          dateShiftKey: b64url(randomBytes(32)),
          cryptoHashKey: b64url(randomBytes(32)),
          encryptKey: b64url(randomBytes(24)),
        }) + '\n',
      );
      assertPrivateFile(file);
      const k = JSON.parse(readFileSync(file, 'utf8')) as DeidKeys;
      for (const f of ['dateShiftKey', 'cryptoHashKey', 'encryptKey'] as const) {
        if (typeof k[f] !== 'string' || k[f].length < 16) throw new KeyFileError(`${file}: ${f} missing or too short`);
      }
      return { dateShiftKey: k.dateShiftKey, cryptoHashKey: k.cryptoHashKey, encryptKey: k.encryptKey };
    },
    demoRecipient(destination) {
      const name = safeName(destination);
      const made = make(`recipient-${name}.key`, b64(randomBytes(32)) + '\n');
      const pair = recipientFromSecret(readKeyFile(join(certsDir, `recipient-${name}.key`), 32));
      if (made || !existsSync(join(certsDir, `recipient-${name}.pub`))) make(`recipient-${name}.pub`, b64(pair.publicKey) + '\n');
      return pair;
    },
    ensureKekFile() {
      make(KEK_FILE, b64(randomBytes(32)) + '\n');
      const file = join(certsDir, KEK_FILE);
      assertPrivateFile(file);
      return file;
    },
    created,
  };
  return store;
}

/** Key id for any public key (Ed25519 or X25519): first 16 hex of SHA-256. */
export { keyIdOf };
