/**
 * The patient-token key (certs/token.key: 32 random bytes, base64, mode 0600): the one
 * place it is made and read. The key store and the CLI commands that take
 * --token-key-file both come here, so every token key has the same shape and checks.
 */
import { randomBytes } from 'node:crypto';
import { b64 } from './encoding.js';
import { createExclusive, readKeyFile } from './keyfiles.js';

export const TOKEN_KEY_FILE = 'token.key';

/** Reads `file`, making it first when missing (exclusive create: never overwrites). */
export function loadOrCreateTokenKey(file: string): { key: Uint8Array; created: boolean } {
  const created = createExclusive(file, b64(randomBytes(32)) + '\n');
  return { key: readKeyFile(file, 32), created };
}

/** Reads an existing token key file (permission and length checked); throws KeyFileError otherwise. */
export function readTokenKey(file: string): Uint8Array {
  return readKeyFile(file, 32);
}
