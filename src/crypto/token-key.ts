/**
 * The patient-token key (certs/token.key: 32 random bytes, base64, mode 0600): the one
 * place it is made and read. The key store and the CLI commands that take
 * --token-key-file both come here, so every token key has the same shape.
 *
 * The key store reads its own token.key strictly (owner-only mode, like every key it
 * holds). A key file an operator names by hand to the CLI (--token-key-file) is read
 * whatever its mode, as the CLI always has: reading it exposes nothing new.
 */
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { b64, fromB64 } from './encoding.js';
import { createExclusive, readKeyFile } from './keyfiles.js';
import { KeyFileError } from './errors.js';

export const TOKEN_KEY_FILE = 'token.key';

export interface TokenKeyOptions {
  /** Refuse a file group or others may read (default true: the key store's own file). */
  privateOnly?: boolean;
}

/** Reads `file`, making it first when missing (exclusive create, mode 0600: never overwrites). */
export function loadOrCreateTokenKey(file: string, options: TokenKeyOptions = {}): { key: Uint8Array; created: boolean } {
  const created = createExclusive(file, b64(randomBytes(32)) + '\n');
  return { key: readTokenKey(file, options), created };
}

/** Reads an existing token key file; throws KeyFileError (naming the file, never the key) otherwise. */
export function readTokenKey(file: string, options: TokenKeyOptions = {}): Uint8Array {
  if (options.privateOnly ?? true) return readKeyFile(file, 32);
  if (!existsSync(file)) throw new KeyFileError(`token key file ${file} does not exist`);
  try {
    return fromB64(readFileSync(file, 'utf8'), file, 32);
  } catch {
    throw new KeyFileError(`token key file ${file}: expected base64 of 32 bytes`);
  }
}
