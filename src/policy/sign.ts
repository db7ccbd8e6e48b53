/**
 * Policy signatures: Ed25519, detached. A pack signature (what `darwaza policy sign` writes)
 * covers the pack manifest (src/policy/pack.ts: the policy file's hash and every profile
 * file's hash); signPolicy/verifyPolicy sign and check any canonical bytes (UTF-8, no BOM,
 * LF line ends). The signature file FILE.sig is JSON:
 *   { "keyId", "alg": "Ed25519", "signature": base64, "sha256": hex, "publicKey": base64,
 *     "covers": "pack", "files": { "policy": hex, "profile:NAME": hex | "missing" } }
 * publicKey and files are informative only: trust comes from the verifier's list of trusted
 * keys, and integrity from the signature over the manifest.
 */
import { createHash } from 'node:crypto';
import { getSodium } from '../crypto/sodium.js';
import { canonicalBytes, sha256Hex } from './parse.js';
import type { PolicyPack } from './types.js';

export interface PolicySignature {
  keyId: string;
  alg: 'Ed25519';
  signature: string;
  sha256: string;
  publicKey: string;
  /** "pack" when the signature covers the pack manifest; absent for bare policy bytes. */
  covers?: 'pack';
  /** Informative: each file's hash when signed (role → sha256 hex or "missing"), to name what changed. */
  files?: Record<string, string>;
}

export interface SigningKey {
  alg: 'Ed25519';
  keyId: string;
  publicKey: string;
  secretKey: string;
}

export type VerifyResult =
  | { ok: true; keyId: string; trusted: boolean; sha256: string }
  | { ok: false; reason: string };

/** Key id: the first 16 hex digits of sha256(public key bytes). */
export const keyIdOf = (publicKeyB64: string) =>
  createHash('sha256').update(Buffer.from(publicKeyB64, 'base64')).digest('hex').slice(0, 16);

export async function generateSigningKey(): Promise<SigningKey> {
  const sodium = await getSodium();
  const kp = sodium.crypto_sign_keypair();
  const publicKey = Buffer.from(kp.publicKey).toString('base64');
  return { alg: 'Ed25519', keyId: keyIdOf(publicKey), publicKey, secretKey: Buffer.from(kp.privateKey).toString('base64') };
}

/** Read a signing key: the JSON written by keygen, or a bare base64 64-byte secret key. */
export function parseSigningKey(text: string): SigningKey {
  const t = text.trim();
  let secret: Buffer;
  if (t.startsWith('{')) {
    const j = JSON.parse(t) as Partial<SigningKey>;
    if (typeof j.secretKey !== 'string') throw new Error('the key file has no "secretKey"');
    secret = Buffer.from(j.secretKey, 'base64');
  } else secret = Buffer.from(t, 'base64');
  if (secret.length !== 64) throw new Error(`an Ed25519 secret key is 64 bytes; this one is ${secret.length}`);
  const publicKey = secret.subarray(32).toString('base64');
  return { alg: 'Ed25519', keyId: keyIdOf(publicKey), publicKey, secretKey: secret.toString('base64') };
}

export async function signPolicy(text: string | Uint8Array, key: SigningKey): Promise<PolicySignature> {
  const sodium = await getSodium();
  const bytes = canonicalBytes(text);
  const sig = sodium.crypto_sign_detached(bytes, Buffer.from(key.secretKey, 'base64'));
  return { keyId: key.keyId, alg: 'Ed25519', signature: Buffer.from(sig).toString('base64'), sha256: sha256Hex(bytes), publicKey: key.publicKey };
}

export function parseSignature(text: string): PolicySignature {
  let j: Partial<PolicySignature>;
  try {
    j = JSON.parse(text) as Partial<PolicySignature>;
  } catch {
    throw new Error('the signature file is not JSON');
  }
  if (j.alg !== 'Ed25519') throw new Error(`the signature algorithm must be Ed25519, not ${JSON.stringify(j.alg)}`);
  for (const f of ['keyId', 'signature', 'sha256'] as const) {
    if (typeof j[f] !== 'string') throw new Error(`the signature file has no "${f}"`);
  }
  return j as PolicySignature;
}

/** Accept a base64 public key (32 bytes) or reject it with a plain message. */
export function normalizePublicKey(b64: string): Buffer {
  const k = Buffer.from(b64.trim(), 'base64');
  if (k.length !== 32) throw new Error(`a trusted Ed25519 public key is 32 bytes of base64; got ${k.length} bytes`);
  return k;
}

/**
 * Verify a detached signature. With trustedSigners, only those keys count; without,
 * the key named in the signature file is used and the result says trusted: false.
 */
export async function verifyPolicy(
  text: string | Uint8Array,
  sig: PolicySignature,
  trustedSigners: string[] = [],
): Promise<VerifyResult> {
  const sodium = await getSodium();
  const bytes = canonicalBytes(text);
  const sha = sha256Hex(bytes);
  if (sha !== sig.sha256) {
    return { ok: false, reason: `the policy was changed after it was signed (its sha256 is ${sha.slice(0, 16)}…, the signature covers ${sig.sha256.slice(0, 16)}…)` };
  }
  const signature = Buffer.from(sig.signature, 'base64');
  if (signature.length !== 64) return { ok: false, reason: 'the signature is not 64 bytes of base64' };
  const candidates = trustedSigners.length ? trustedSigners : sig.publicKey ? [sig.publicKey] : [];
  if (!candidates.length) return { ok: false, reason: 'no public key to check against: pass a trusted key' };
  for (const k of candidates) {
    let pk: Buffer;
    try {
      pk = normalizePublicKey(k);
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    if (sodium.crypto_sign_verify_detached(signature, bytes, pk)) {
      return { ok: true, keyId: keyIdOf(pk.toString('base64')), trusted: trustedSigners.length > 0, sha256: sha };
    }
  }
  return {
    ok: false,
    reason: trustedSigners.length
      ? `the signature (key ${sig.keyId}) does not verify with any trusted key`
      : `the signature does not verify with the key it names (${sig.keyId}): the policy or the signature was altered`,
  };
}

const filesOf = (pack: PolicyPack) => Object.fromEntries(pack.files.map((f) => [f.role, f.sha256 ?? 'missing']));

/** Sign a whole pack (policy + profiles): the signature covers the pack manifest. */
export async function signPack(pack: PolicyPack, key: SigningKey): Promise<PolicySignature> {
  return { ...(await signPolicy(pack.manifest, key)), covers: 'pack', files: filesOf(pack) };
}

/** The roles whose file differs from what the signature lists (by its informative file list). */
function changedFiles(pack: PolicyPack, sig: PolicySignature): string[] {
  if (!sig.files) return [];
  const now = filesOf(pack);
  const roles = new Set([...Object.keys(now), ...Object.keys(sig.files)]);
  return [...roles].filter((r) => now[r] !== sig.files![r]).sort();
}

const describeRole = (pack: PolicyPack, role: string) => {
  const f = pack.files.find((x) => x.role === role);
  if (role === 'policy') return 'the policy file';
  const name = role.replace(/^profile:/, '');
  if (!f) return `profile ${name} (no longer in the pack)`;
  return f.sha256 ? `profile ${name}` : `profile ${name} (its file is missing)`;
};

/**
 * Verify a pack signature. The reason on failure names which file of the pack changed
 * (from the signature's informative file list) and never quotes file content.
 */
export async function verifyPack(pack: PolicyPack, sig: PolicySignature, trustedSigners: string[] = []): Promise<VerifyResult> {
  if (sig.sha256 !== pack.sha256) {
    if (sig.covers !== 'pack' && sig.sha256 === pack.files[0].sha256) {
      return { ok: false, reason: 'the signature covers the policy file alone (the old format), not the pack with its de-identification profiles: sign the pack again with "darwaza policy sign"' };
    }
    const changed = changedFiles(pack, sig);
    const what = changed.length ? `: ${changed.map((r) => describeRole(pack, r)).join(', ')} changed` : '';
    return { ok: false, reason: `the policy pack was changed after it was signed${what} (its sha256 is ${pack.sha256.slice(0, 16)}…, the signature covers ${sig.sha256.slice(0, 16)}…)` };
  }
  return verifyPolicy(pack.manifest, sig, trustedSigners);
}
