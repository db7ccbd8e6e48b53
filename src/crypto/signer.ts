/**
 * The gateway's signing identity: an Ed25519 key (envelopes, audit tree heads) and,
 * derived from the same 32-byte seed, an X25519 key the gateway uses to seal payloads
 * to recipients (crypto_box between gateway and recipient keys; see docs/envelope.md).
 */
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { sodiumSync } from './sodium.js';
import { b64, keyIdOf, utf8 } from './encoding.js';

/** What the audit log (tree heads) and anything else that signs needs. Signs raw bytes: callers domain-separate. */
export interface Signer {
  /** First 16 hex of SHA-256(publicKey). */
  keyId: string;
  /** Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** Detached Ed25519 signature, 64 bytes. */
  sign(bytes: Uint8Array): Uint8Array;
}

/** A Signer that can also seal envelopes to recipients. */
export interface EnvelopeSigner extends Signer {
  /** X25519 public key that goes into sealed envelopes as `spk`. */
  boxPublicKey: Uint8Array;
  /** crypto_box_beforenm(recipientPublicKey, boxSecretKey): the shared key, cached per recipient. */
  boxSharedKey(recipientPublicKey: Uint8Array): Uint8Array;
}

/** A trusted gateway public key, as receivers hold it. */
export interface PublicKeyRef {
  keyId: string;
  publicKey: Uint8Array;
}

export interface RecipientKeyPair {
  keyId: string;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

const BOX_CONTEXT = utf8('darwaza-x25519-from-seed-v1');
/** PKCS#8 prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Builds the gateway signer from its 32-byte seed (the content of signing-<keyId>.key). Needs getSodium() awaited. */
export function signerFromSeed(seed: Uint8Array): EnvelopeSigner {
  const s = sodiumSync();
  if (seed.length !== 32) throw new TypeError('signing seed: expected 32 bytes');
  const kp = s.crypto_sign_seed_keypair(seed);
  const boxSecret = s.crypto_generichash(32, BOX_CONTEXT, seed);
  const boxPublicKey = s.crypto_scalarmult_base(boxSecret);
  // Signing runs in OpenSSL (node:crypto): ~1.5× libsodium-WASM's speed, and Ed25519 is
  // deterministic (RFC 8032), so the bytes are identical (the envelope test vector checks it).
  const nodeKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const shared = new Map<string, Uint8Array>();
  return {
    keyId: keyIdOf(kp.publicKey),
    publicKey: kp.publicKey,
    boxPublicKey,
    sign: (bytes) => new Uint8Array(nodeSign(null, bytes, nodeKey)),
    boxSharedKey(recipientPublicKey) {
      const k = b64(recipientPublicKey);
      let key = shared.get(k);
      if (!key) {
        if (recipientPublicKey.length !== 32) throw new TypeError('recipient public key: expected 32 bytes');
        key = s.crypto_box_beforenm(recipientPublicKey, boxSecret);
        if (shared.size > 1024) shared.clear();
        shared.set(k, key);
      }
      return key;
    },
  };
}

/** X25519 recipient key pair from a 32-byte secret key. Needs getSodium() awaited. */
export function recipientFromSecret(secretKey: Uint8Array): RecipientKeyPair {
  const s = sodiumSync();
  if (secretKey.length !== 32) throw new TypeError('recipient secret key: expected 32 bytes');
  const publicKey = s.crypto_scalarmult_base(secretKey);
  return { keyId: keyIdOf(publicKey), publicKey, secretKey };
}

/** Verifies a detached Ed25519 signature (false on any malformed input). */
export function verifySignature(signature: Uint8Array, bytes: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return sodiumSync().crypto_sign_verify_detached(signature, bytes, publicKey);
  } catch {
    return false;
  }
}
