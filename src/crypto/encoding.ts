/** Byte helpers shared by the crypto folder (Buffer-backed: fast, and the same everywhere). */
import { createHash } from 'node:crypto';

export const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

export const b64url = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/**
 * Strict base64 (RFC 4648 §4, padding optional) or base64url decoding. Throws a
 * TypeError naming `field` on malformed input or when `length` does not match.
 */
export function fromB64(text: unknown, field: string, length?: number): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`${field}: expected a base64 string`);
  const trimmed = text.trim();
  if (!(B64_RE.test(trimmed) || B64URL_RE.test(trimmed)) || trimmed.replace(/=+$/, '').length % 4 === 1) {
    throw new TypeError(`${field}: not valid base64`);
  }
  const bytes = new Uint8Array(Buffer.from(trimmed, B64URL_RE.test(trimmed) ? 'base64url' : 'base64'));
  if (length !== undefined && bytes.length !== length) {
    throw new TypeError(`${field}: expected ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

export const sha256 = (bytes: Uint8Array | string): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest());

/** Key id of a public key: the first 16 hex characters of SHA-256(publicKey). */
export const keyIdOf = (publicKey: Uint8Array): string => hex(sha256(publicKey)).slice(0, 16);

export const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));

export const fromUtf8 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time comparison of two byte strings (lengths are not secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
