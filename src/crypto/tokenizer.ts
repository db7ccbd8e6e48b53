/**
 * Pseudonymous patient tokens: base64url(HMAC-SHA256(tokenKey, UTF-8(id))), 43 characters.
 * Stable for a key, unlinkable without it. The key lives in the key store (token.key) and
 * never leaves the appliance. Computed with libsodium's crypto_auth_hmacsha256 when it is
 * loaded, else with node:crypto's HMAC (the same function, the same bytes).
 */
import { createHmac } from 'node:crypto';
import { sodiumSync } from './sodium.js';

export function createTokenizer(key: Uint8Array): (id: string) => string {
  if (!(key instanceof Uint8Array) || key.length < 32) throw new TypeError('token key: expected at least 32 bytes');
  const k = new Uint8Array(key);
  let sodium: ReturnType<typeof sodiumSync> | undefined;
  try {
    sodium = k.length === 32 ? sodiumSync() : undefined;
  } catch {
    sodium = undefined;
  }
  return function tokenize(id: string): string {
    if (typeof id !== 'string' || id === '') throw new TypeError('patient id: expected a non-empty string');
    const mac = sodium
      ? sodium.crypto_auth_hmacsha256(Buffer.from(id, 'utf8'), k)
      : createHmac('sha256', k).update(id, 'utf8').digest();
    return Buffer.from(mac).toString('base64url');
  };
}
