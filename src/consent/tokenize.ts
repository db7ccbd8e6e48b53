/**
 * A stand-in patient tokenizer (HMAC-SHA256 with node:crypto) for the CLI and tests,
 * until the crypto folder's keyed hash is wired in by the lead. Same shape:
 * (id string) → token string.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function hmacTokenizer(key: Uint8Array): (id: string) => string {
  if (key.length < 16) throw new Error('token key: at least 16 bytes are required');
  const k = Buffer.from(key);
  return (id: string) => createHmac('sha256', k).update(id, 'utf8').digest('base64url');
}

/**
 * Reads a token key file (32 random bytes, base64); creates it (mode 0600, its folder 0700)
 * when missing. Returns the key bytes.
 */
export function loadOrCreateTokenKey(file: string): { key: Buffer; created: boolean } {
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length < 16) throw new Error(`token key file ${file}: expected base64 of at least 16 bytes`);
    return { key, created: false };
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, created: true };
}
