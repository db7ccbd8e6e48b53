/**
 * Signed tree heads (STH): Ed25519 over the canonical JSON of
 * { type: "darwaza-audit-tree-head", v: 1, treeSize, timestamp, rootHash, keyId }.
 * The `type` member separates these signatures from anything else the key signs.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import type { SodiumLib } from '../crypto/sodium.js';

/** Injected by the key store (src/crypto); tests make one with libsodium. */
export interface Signer {
  keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** Detached Ed25519 signature (64 bytes). */
  sign(bytes: Uint8Array): Uint8Array;
}

export interface SignedTreeHead {
  v: 1;
  treeSize: number;
  /** Milliseconds since the Unix epoch (as RFC 6962). */
  timestamp: number;
  /** MTH of the first treeSize entries, lowercase hex. */
  rootHash: string;
  keyId: string;
  /** Ed25519 signature over treeHeadBytes(head), base64. */
  signature: string;
}

export const TREE_HEAD_TYPE = 'darwaza-audit-tree-head';

export function treeHeadBytes(head: Omit<SignedTreeHead, 'signature'>): Uint8Array {
  return Buffer.from(
    canonicalJson({
      type: TREE_HEAD_TYPE,
      v: head.v,
      treeSize: head.treeSize,
      timestamp: head.timestamp,
      rootHash: head.rootHash,
      keyId: head.keyId,
    }),
    'utf8',
  );
}

/** True if `head` carries a valid signature by one of `keys` (raw Ed25519 public keys). */
export function verifyTreeHeadSignature(sodium: SodiumLib, head: SignedTreeHead, keys: Uint8Array[]): boolean {
  let sig: Uint8Array;
  try {
    sig = Buffer.from(head.signature, 'base64');
  } catch {
    return false;
  }
  if (sig.length !== 64) return false;
  const bytes = treeHeadBytes(head);
  return keys.some((k) => k.length === 32 && sodium.crypto_sign_verify_detached(sig, bytes, k));
}

/** Checks a value read from a file is shaped like a SignedTreeHead; returns a reason if not. */
export function checkTreeHeadShape(value: unknown): string | null {
  const h = value as Partial<SignedTreeHead>;
  if (typeof h !== 'object' || h === null) return 'tree head is not an object';
  if (h.v !== 1) return 'tree head version (v) must be 1';
  if (!Number.isSafeInteger(h.treeSize) || (h.treeSize as number) < 0) return 'tree head treeSize must be a whole number';
  if (!Number.isSafeInteger(h.timestamp)) return 'tree head timestamp must be milliseconds since the epoch';
  if (typeof h.rootHash !== 'string' || !/^[0-9a-f]{64}$/.test(h.rootHash)) return 'tree head rootHash must be 64 lowercase hex digits';
  if (typeof h.keyId !== 'string' || h.keyId.length === 0) return 'tree head keyId is missing';
  if (typeof h.signature !== 'string') return 'tree head signature is missing';
  return null;
}

/** SHA-256 of the raw public key, hex: what a regulator compares out of band. */
export const keyFingerprint = (publicKey: Uint8Array): string => createHash('sha256').update(publicKey).digest('hex');
