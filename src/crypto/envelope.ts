/**
 * Sealed, signed envelopes: what leaves the gateway for an upstream service.
 * The format is specified in docs/envelope.md (with a test vector); keep the two in step.
 *
 *   header   = { v, alg, kid, meta, [rkid, spk, nonce] }            (routing data, no PHI)
 *   sealed:  data = XChaCha20-Poly1305(key = crypto_box_beforenm(recipientPk, gatewayBoxSk),
 *                                      nonce, aad = canonicalJson(header), payload)
 *   clear:   data = payload
 *   sig      = Ed25519(gateway key kid, "darwaza-envelope-v1\n" || canonicalJson(header + data))
 */
import { randomBytes } from 'node:crypto';
import { sodiumSync } from './sodium.js';
import { canonicalJson } from './canonical.js';
import { b64, utf8 } from './encoding.js';
import { EnvelopeInputError } from './errors.js';
import type { EnvelopeSigner } from './signer.js';

export const ENVELOPE_VERSION = 1;
export const ALG_SEALED = 'x25519-xchacha20poly1305';
export const ALG_CLEAR = 'none';
export const SIGNATURE_CONTEXT = 'darwaza-envelope-v1\n';
export const NONCE_BYTES = 24;

/** Routing metadata, in clear: never PHI. All values are strings. */
export interface EnvelopeMeta {
  /** Gateway message id (also the Idempotency-Key): the receiver's replay key. */
  id: string;
  /** Sending organisation (the hospital / gateway name). */
  source: string;
  destination: string;
  purpose: string;
  /** SHA-256 (hex) of the policy that allowed this message. */
  policySha256: string;
  /** ISO-8601 instant the envelope was made. */
  created: string;
  /** e.g. application/fhir+json or x-application/hl7-v2+er7. */
  contentType?: string;
  [extra: string]: string | undefined;
}

export const REQUIRED_META = ['id', 'source', 'destination', 'purpose', 'policySha256', 'created'] as const;

/** The wire form (JSON). Field order on the wire is canonical (sorted); receivers must not rely on it. */
export interface Envelope {
  v: 1;
  alg: typeof ALG_SEALED | typeof ALG_CLEAR;
  /** Signer key id (16 hex). */
  kid: string;
  meta: EnvelopeMeta;
  /** Recipient key id (sealed only). */
  rkid?: string;
  /** Gateway X25519 public key, base64 (sealed only). */
  spk?: string;
  /** 24-byte XChaCha20 nonce, base64 (sealed only). */
  nonce?: string;
  /** Ciphertext (sealed) or payload bytes (clear), base64. */
  data: string;
  /** Ed25519 signature, base64. */
  sig: string;
}

export interface RecipientRef {
  keyId: string;
  /** X25519 public key, 32 bytes (or base64 text). */
  publicKey: Uint8Array | string;
}

export interface SealInput {
  meta: EnvelopeMeta;
  /** Bytes, or text (encoded as UTF-8). */
  payload: Uint8Array | string;
  recipient?: RecipientRef;
  signer: EnvelopeSigner;
  /** True (the default policy) → encrypt to the recipient; false → signed but in clear. */
  seal: boolean;
  /** Fixed nonce: for test vectors only. */
  nonce?: Uint8Array;
}

/** Recipient key ids: ours are 16 hex (keyIdOf), but an upstream may name its keys itself. */
export const RECIPIENT_KEY_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

function checkMeta(meta: unknown): EnvelopeMeta {
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) throw new EnvelopeInputError('meta: expected an object');
  const m = meta as Record<string, unknown>;
  for (const field of REQUIRED_META) {
    if (typeof m[field] !== 'string' || m[field] === '') throw new EnvelopeInputError(`meta.${field}: required string`);
  }
  const out: EnvelopeMeta = {} as EnvelopeMeta;
  for (const [k, v] of Object.entries(m)) {
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new EnvelopeInputError(`meta.${k}: must be a string`);
    out[k] = v;
  }
  return out;
}

/** Signing input: the context line, then canonical JSON of everything but `sig`. */
export function signingInput(unsigned: Omit<Envelope, 'sig'>): Uint8Array {
  return utf8(SIGNATURE_CONTEXT + canonicalJson(unsigned));
}

/** Header (everything but data and sig) as canonical JSON bytes: the AEAD's associated data. */
export function headerAad(env: Omit<Envelope, 'sig' | 'data'> & { data?: unknown; sig?: unknown }): Uint8Array {
  const { data: _d, sig: _s, ...header } = env;
  return utf8(canonicalJson(header));
}

/**
 * Makes a signed envelope. Synchronous (hot path): libsodium must be ready, which it is
 * once the key store has loaded. Throws EnvelopeInputError naming the bad field.
 */
export function sealEnvelope(input: SealInput): Envelope {
  return sealAndSerialize(input).envelope;
}

/**
 * sealEnvelope plus its wire form (`body` === serializeEnvelope(envelope)), computing the
 * canonical JSON once: the hot path for the pipeline (≈20% cheaper than the two calls).
 */
export function sealAndSerialize(input: SealInput): { envelope: Envelope; body: string } {
  const s = sodiumSync();
  const meta = checkMeta(input.meta);
  const payload = typeof input.payload === 'string' ? utf8(input.payload) : input.payload;
  if (!(payload instanceof Uint8Array)) throw new EnvelopeInputError('payload: expected bytes or a string');
  const signer = input.signer;
  if (!signer || typeof signer.sign !== 'function') throw new EnvelopeInputError('signer: required');
  let env: Omit<Envelope, 'sig'>;
  if (input.seal) {
    const r = input.recipient;
    if (!r) throw new EnvelopeInputError('recipient: required when seal is true (no recipient key configured for this destination)');
    if (typeof r.keyId !== 'string' || !RECIPIENT_KEY_ID_RE.test(r.keyId)) {
      throw new EnvelopeInputError('recipient.keyId: expected 1–64 letters, digits, ".", "_", ":" or "-"');
    }
    const rpk = typeof r.publicKey === 'string' ? Buffer.from(r.publicKey, 'base64') : r.publicKey;
    if (!(rpk instanceof Uint8Array) || rpk.length !== 32) throw new EnvelopeInputError('recipient.publicKey: expected a 32-byte X25519 key');
    // node:crypto's CSPRNG: libsodium-wrappers' randombytes_buf costs ~0.2 ms a call in Node.
    const nonce = input.nonce ?? new Uint8Array(randomBytes(NONCE_BYTES));
    if (nonce.length !== NONCE_BYTES) throw new EnvelopeInputError('nonce: expected 24 bytes');
    const header = {
      v: ENVELOPE_VERSION,
      alg: ALG_SEALED,
      kid: signer.keyId,
      meta,
      rkid: r.keyId,
      spk: b64(signer.boxPublicKey),
      nonce: b64(nonce),
    } as const;
    const key = signer.boxSharedKey(new Uint8Array(rpk));
    const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(payload, headerAad(header), null, nonce, key);
    env = { ...header, data: b64(ct) };
  } else {
    env = { v: ENVELOPE_VERSION, alg: ALG_CLEAR, kid: signer.keyId, meta, data: b64(payload) };
  }
  const unsigned = canonicalJson(env);
  const sig = b64(signer.sign(utf8(SIGNATURE_CONTEXT + unsigned)));
  // In canonical (sorted) order "sig" sits right before "spk" (sealed) or "v" (clear), both
  // top-level members after "meta", hence the last occurrence; a quote inside a string is escaped.
  const before = env.alg === ALG_SEALED ? ',"spk":' : ',"v":';
  const at = unsigned.lastIndexOf(before);
  const body = `${unsigned.slice(0, at)},"sig":${JSON.stringify(sig)}${unsigned.slice(at)}`;
  return { envelope: { ...env, sig }, body };
}

/** The bytes to POST: canonical JSON of the envelope. */
export function serializeEnvelope(env: Envelope): string {
  return canonicalJson(env);
}
