/**
 * Where the at-rest key-encryption key (KEK) comes from. Trade-offs in docs/crypto.md:
 *   file        32 random bytes (base64) in a 0600 file: unattended restarts; protects
 *               against a copied database, not against theft of the whole disk.
 *   env         DARWAZA_KEK (base64 of 32 bytes), e.g. from systemd credentials or a
 *               secrets manager: unattended; the key is not on the data disk.
 *   passphrase  Argon2id (crypto_pwhash) of a passphrase with a salt stored in the
 *               database: strongest at rest, but someone must type it after each restart.
 *   key         raw bytes handed in (tests, embedding).
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { assertPrivateFile, createExclusive, ensurePrivateDir, readKeyFile } from './keyfiles.js';
import { b64, fromB64 } from './encoding.js';
import { KekError, KeyFileError } from './errors.js';
import { getSodium } from './sodium.js';

export type KekSource =
  | { from: 'file'; path: string }
  | { from: 'env'; variable?: string; env?: NodeJS.ProcessEnv }
  | { from: 'passphrase'; passphrase: string; opsLimit?: number; memLimitBytes?: number }
  | { from: 'key'; key: Uint8Array };

/** Config shape (`keys.kek` in gateway.config.json). */
export type KekConfig =
  | { from: 'file'; path?: string }
  | { from: 'env'; variable?: string }
  | { from: 'passphrase'; env?: string; file?: string };

export const DEFAULT_KEK_ENV = 'DARWAZA_KEK';
export const DEFAULT_KEK_PASSPHRASE_ENV = 'DARWAZA_KEK_PASSPHRASE';
/** Argon2id cost for the passphrase KEK: 3 passes over 64 MiB (≈0.3–1 s once at start-up). */
export const DEFAULT_PWHASH_OPS = 3;
export const DEFAULT_PWHASH_MEM = 64 * 1024 * 1024;

export interface KdfParams {
  kdf: 'argon2id13';
  salt: Uint8Array;
  opsLimit: number;
  memLimitBytes: number;
}

/** Derives or reads the 32-byte KEK. For passphrases the salt/params come from the database (`params`). */
export async function loadKek(source: KekSource, params?: KdfParams): Promise<Uint8Array> {
  switch (source.from) {
    case 'key':
      if (!(source.key instanceof Uint8Array) || source.key.length !== 32) throw new KekError('kek.key: expected 32 bytes');
      return new Uint8Array(source.key);
    case 'file':
      try {
        return readKeyFile(source.path, 32);
      } catch (err) {
        if (err instanceof KeyFileError) throw new KekError(err.message);
        throw new KekError(`KEK file ${source.path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      }
    case 'env': {
      const name = source.variable ?? DEFAULT_KEK_ENV;
      const value = (source.env ?? process.env)[name];
      if (!value) throw new KekError(`environment variable ${name} is not set (expected base64 of 32 random bytes)`);
      try {
        return fromB64(value, name, 32);
      } catch {
        throw new KekError(`environment variable ${name}: expected base64 of exactly 32 bytes`);
      }
    }
    case 'passphrase': {
      if (typeof source.passphrase !== 'string' || source.passphrase.length < 12) {
        throw new KekError('KEK passphrase: at least 12 characters required');
      }
      if (!params) throw new KekError('KEK passphrase: no salt (internal: params missing)');
      const s = await getSodium();
      return s.crypto_pwhash(32, source.passphrase, params.salt, params.opsLimit, params.memLimitBytes, s.crypto_pwhash_ALG_ARGON2ID13);
    }
    default:
      throw new KekError(`kek.from: unknown source ${JSON.stringify((source as { from: unknown }).from)} (file | env | passphrase)`);
  }
}

/**
 * Turns the config's `keys.kek` into a KekSource. `certsDir` is the default home of kek.key;
 * a passphrase is read from an environment variable (default DARWAZA_KEK_PASSPHRASE) or a file.
 */
export function kekSourceFromConfig(
  config: KekConfig | KekConfig['from'] | undefined,
  opts: { certsDir: string; env?: NodeJS.ProcessEnv; readFile?: (path: string) => string },
): KekSource {
  const env = opts.env ?? process.env;
  const cfg: KekConfig = typeof config === 'string' ? ({ from: config } as KekConfig) : (config ?? { from: 'file' });
  switch (cfg.from) {
    case 'file':
      return { from: 'file', path: cfg.path ?? `${opts.certsDir}/kek.key` };
    case 'env':
      return { from: 'env', variable: cfg.variable ?? DEFAULT_KEK_ENV, env };
    case 'passphrase': {
      let passphrase: string | undefined;
      if (cfg.file) {
        try {
          passphrase = (opts.readFile ?? ((p) => readKeyFileText(p)))(cfg.file).replace(/\r?\n$/, '');
        } catch (err) {
          throw new KekError(`keys.kek.file: ${(err as Error).message}`);
        }
      } else {
        passphrase = env[cfg.env ?? DEFAULT_KEK_PASSPHRASE_ENV];
      }
      if (!passphrase) throw new KekError(`keys.kek: passphrase not found (set ${cfg.env ?? DEFAULT_KEK_PASSPHRASE_ENV} or keys.kek.file)`);
      return { from: 'passphrase', passphrase };
    }
    default:
      throw new KekError(`keys.kek.from: expected "file", "env" or "passphrase"`);
  }
}

function readKeyFileText(path: string): string {
  // Same rule as key files: a passphrase file must be readable by its owner only.
  assertPrivateFile(path);
  return readFileSync(path, 'utf8');
}

/** Makes certs/kek.key (32 random bytes, base64, 0600) unless it exists. Returns its path and whether it was made. */
export function ensureKekFile(certsDir: string): { path: string; created: boolean } {
  ensurePrivateDir(certsDir);
  const path = join(certsDir, 'kek.key');
  const created = createExclusive(path, b64(randomBytes(32)) + '\n');
  assertPrivateFile(path);
  return { path, created };
}
