/**
 * The token key file for the consent CLI (certs/token.key, as `init` makes it). Tokens are
 * the crypto folder's keyed hash — one implementation — re-exported here under the name
 * this folder's callers already use.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export { createTokenizer as hmacTokenizer } from '../crypto/index.js';

/**
 * Reads a token key file (32 random bytes, base64); creates it (mode 0600, its folder 0700)
 * when missing. Returns the key bytes.
 */
export function loadOrCreateTokenKey(file: string): { key: Buffer; created: boolean } {
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length < 32) throw new Error(`token key file ${file}: expected base64 of 32 bytes`);
    return { key, created: false };
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, created: true };
}
