/**
 * The receiving side of docs/envelope.md, for the upstream simulator and for anyone
 * building a real receiver in TypeScript. Order of checks (each failure is final):
 *   parse → shape → signer key trusted (403) → signature (401) → replay (409)
 *   → recipient key known (422) → decrypt (400) → remember id.
 * The id is remembered only after everything passed, so forged or broken envelopes
 * cannot burn an id.
 */
import { getSodium } from './sodium.js';
import { b64, fromB64, fromUtf8, keyIdOf } from './encoding.js';
import {
  ALG_CLEAR,
  ALG_SEALED,
  ENVELOPE_VERSION,
  NONCE_BYTES,
  RECIPIENT_KEY_ID_RE,
  REQUIRED_META,
  headerAad,
  signingInput,
  type Envelope,
  type EnvelopeMeta,
} from './envelope.js';
import { verifySignature, type PublicKeyRef, type RecipientKeyPair } from './signer.js';

export interface ReplayStore {
  has(id: string): boolean;
  add(id: string): void;
}

/** In-memory replay store that forgets the oldest ids beyond `capacity`. */
export function memoryReplayStore(capacity = DEFAULT_REPLAY_CAPACITY): ReplayStore {
  const ids = new Set<string>();
  return {
    has: (id) => ids.has(id),
    add(id) {
      ids.add(id);
      if (ids.size > capacity) {
        const oldest = ids.values().next().value;
        if (oldest !== undefined) ids.delete(oldest);
      }
    },
  };
}

/** ~10 MB of ids; older ids are forgotten (use maxAgeMs, or a durable ReplayStore, to close that gap). */
export const DEFAULT_REPLAY_CAPACITY = 100_000;
const TRUST_REFRESH_MS = 60_000;
export const DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024 * 1024;

type TrustedKeyInput = PublicKeyRef | { keyId?: string; publicKey: Uint8Array | string };

export interface ReceiverOptions {
  /** X25519 key pairs this receiver can open (several during a rotation overlap). */
  recipientKeys: Array<RecipientKeyPair | { keyId?: string; publicKey?: Uint8Array | string; secretKey: Uint8Array | string }>;
  /**
   * Pinned gateway Ed25519 public keys (several during a rotation overlap). A function is
   * asked again whenever an envelope names a key id not yet trusted (an in-process simulator
   * can pass `() => keys.trustedGatewayKeys()` and follow rotations, both ways: the list
   * is re-read at most once a minute, and at once for an unknown key id).
   */
  trustedGatewayKeys: TrustedKeyInput[] | (() => TrustedKeyInput[]);
  /** Default: in memory, DEFAULT_REPLAY_CAPACITY ids. */
  replayStore?: ReplayStore;
  /** Refuse clear (unsealed) envelopes. Default false: the gateway's policy decides. */
  requireSealed?: boolean;
  /** Refuse envelopes whose meta.destination differs (optional). */
  expectedDestination?: string;
  /** Refuse envelopes whose meta.created is older than this (optional; needs clock). */
  maxAgeMs?: number;
  clock?: () => number;
  maxBytes?: number;
}

export type OpenResult =
  | { ok: true; meta: EnvelopeMeta; payload: Uint8Array; signerKeyId: string; sealed: boolean }
  | { ok: false; status: number; reason: string };

export interface Receiver {
  open(body: Uint8Array | string): OpenResult;
  /** Adds keys during a rotation (new gateway key, new recipient key). */
  trustGatewayKey(key: PublicKeyRef | { keyId?: string; publicKey: Uint8Array | string }): void;
  addRecipientKey(key: { keyId?: string; publicKey?: Uint8Array | string; secretKey: Uint8Array | string }): void;
}

const fail = (status: number, reason: string): OpenResult => ({ ok: false, status, reason });
function bytesOf(v: Uint8Array | string, field: string, n: number): Uint8Array {
  if (typeof v === 'string') return fromB64(v, field, n);
  if (!(v instanceof Uint8Array) || v.length !== n) throw new TypeError(`${field}: expected ${n} bytes`);
  return v;
}

/** Resolves once libsodium is ready. */
export async function createReceiver(options: ReceiverOptions): Promise<Receiver> {
  const s = await getSodium();
  const gateways = new Map<string, Uint8Array>();
  const recipients = new Map<string, { publicKey: Uint8Array; secretKey: Uint8Array }>();
  const shared = new Map<string, Uint8Array>();
  const replay = options.replayStore ?? memoryReplayStore();
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
  const clock = options.clock ?? Date.now;

  const trustGatewayKey: Receiver['trustGatewayKey'] = (k) => {
    const pk = bytesOf(k.publicKey, 'trustedGatewayKeys.publicKey', 32);
    gateways.set(k.keyId ?? keyIdOf(pk), pk);
  };
  const addRecipientKey: Receiver['addRecipientKey'] = (k) => {
    const sk = bytesOf(k.secretKey, 'recipientKeys.secretKey', 32);
    const pk = k.publicKey ? bytesOf(k.publicKey, 'recipientKeys.publicKey', 32) : s.crypto_scalarmult_base(sk);
    recipients.set(k.keyId ?? keyIdOf(pk), { publicKey: pk, secretKey: sk });
  };
  const source = options.trustedGatewayKeys;
  let refreshedAt = 0;
  const refreshTrust = () => {
    if (typeof source !== 'function') return;
    gateways.clear();
    for (const k of source()) trustGatewayKey(k);
    refreshedAt = clock();
  };
  if (typeof source === 'function') refreshTrust();
  else for (const k of source) trustGatewayKey(k);
  for (const k of options.recipientKeys) addRecipientKey(k);

  function open(body: Uint8Array | string): OpenResult {
    if (body.length > maxBytes) return fail(413, 'envelope too large');
    const text = typeof body === 'string' ? body : fromUtf8(body);
    let env: Envelope;
    try {
      env = JSON.parse(text) as Envelope;
    } catch {
      return fail(400, 'envelope is not JSON');
    }
    const shape = checkShape(env);
    if (shape) return fail(400, shape);
    if (typeof source === 'function' && (!gateways.has(env.kid) || clock() - refreshedAt > TRUST_REFRESH_MS)) refreshTrust();
    const gatewayKey = gateways.get(env.kid);
    if (!gatewayKey) return fail(403, `signer key ${env.kid} is not trusted`);
    let sig: Uint8Array;
    try {
      sig = fromB64(env.sig, 'sig', 64);
    } catch {
      return fail(400, 'sig: expected a 64-byte base64 signature');
    }
    const { sig: _sig, ...unsigned } = env;
    let input: Uint8Array;
    try {
      input = signingInput(unsigned);
    } catch {
      return fail(400, 'envelope holds values that cannot be canonicalised');
    }
    if (!verifySignature(sig, input, gatewayKey)) return fail(401, 'signature does not verify');
    const meta = env.meta;
    if (options.expectedDestination !== undefined && meta.destination !== options.expectedDestination) {
      return fail(421, 'envelope is addressed to another destination');
    }
    if (options.maxAgeMs !== undefined) {
      const created = Date.parse(meta.created);
      if (!Number.isFinite(created) || clock() - created > options.maxAgeMs) return fail(400, 'envelope is too old');
    }
    if (replay.has(meta.id)) return fail(409, 'envelope id already received (replay)');
    let payload: Uint8Array;
    if (env.alg === ALG_SEALED) {
      const rk = recipients.get(env.rkid as string);
      if (!rk) return fail(422, `recipient key ${env.rkid} is not held by this receiver`);
      try {
        const spk = fromB64(env.spk, 'spk', 32);
        const nonce = fromB64(env.nonce, 'nonce', NONCE_BYTES);
        const ct = fromB64(env.data, 'data');
        const cacheKey = `${env.rkid}:${b64(spk)}`;
        let k = shared.get(cacheKey);
        if (!k) {
          k = s.crypto_box_beforenm(spk, rk.secretKey);
          if (shared.size > 1024) shared.clear();
          shared.set(cacheKey, k);
        }
        payload = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ct, headerAad(env), nonce, k);
      } catch {
        return fail(400, 'payload does not decrypt');
      }
    } else {
      if (options.requireSealed) return fail(422, 'this receiver accepts sealed envelopes only');
      try {
        payload = fromB64(env.data, 'data');
      } catch {
        return fail(400, 'data: not valid base64');
      }
    }
    replay.add(meta.id);
    return { ok: true, meta, payload, signerKeyId: env.kid, sealed: env.alg === ALG_SEALED };
  }

  return { open, trustGatewayKey, addRecipientKey };
}

const HEX16 = /^[0-9a-f]{16}$/;
const SEALED_FIELDS = new Set(['v', 'alg', 'kid', 'meta', 'rkid', 'spk', 'nonce', 'data', 'sig']);
const CLEAR_FIELDS = new Set(['v', 'alg', 'kid', 'meta', 'data', 'sig']);

/** Returns a reason when the envelope is malformed, or undefined. */
function checkShape(env: unknown): string | undefined {
  if (!env || typeof env !== 'object' || Array.isArray(env)) return 'envelope: expected a JSON object';
  const e = env as Record<string, unknown>;
  if (e.v !== ENVELOPE_VERSION) return `v: unsupported envelope version ${JSON.stringify(e.v)}`;
  if (e.alg !== ALG_SEALED && e.alg !== ALG_CLEAR) return `alg: unsupported ${JSON.stringify(e.alg)}`;
  const allowed = e.alg === ALG_SEALED ? SEALED_FIELDS : CLEAR_FIELDS;
  for (const k of Object.keys(e)) if (!allowed.has(k)) return `${k}: unexpected field`;
  for (const k of allowed) if (!(k in e)) return `${k}: required`;
  if (typeof e.kid !== 'string' || !HEX16.test(e.kid)) return 'kid: expected 16 hex characters';
  if (e.alg === ALG_SEALED && (typeof e.rkid !== 'string' || !RECIPIENT_KEY_ID_RE.test(e.rkid))) return 'rkid: not a valid key id';
  for (const k of ['spk', 'nonce', 'data', 'sig']) if (k in e && typeof e[k] !== 'string') return `${k}: expected a string`;
  const meta = e.meta;
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) return 'meta: expected an object';
  for (const [k, v] of Object.entries(meta)) if (typeof v !== 'string') return `meta.${k}: expected a string`;
  for (const k of REQUIRED_META) if (!(k in meta)) return `meta.${k}: required`;
  return undefined;
}
