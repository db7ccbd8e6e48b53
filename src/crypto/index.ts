/**
 * src/crypto — libsodium everywhere PHI is protected: sealed and signed envelopes,
 * encryption at rest with crypto-shredding, the key store, patient tokens, canonical JSON.
 * Always load libsodium through ./sodium.js.
 */
export { getSodium, sodiumSync, type SodiumLib } from './sodium.js';
export { canonicalJson, canonicalBytes } from './canonical.js';
export { b64, b64url, fromB64, hex, keyIdOf, sha256 } from './encoding.js';
export { PayloadTamperedError, DataKeyGoneError, KekError, KeyFileError, EnvelopeInputError } from './errors.js';
export {
  signerFromSeed,
  recipientFromSecret,
  verifySignature,
  type Signer,
  type EnvelopeSigner,
  type PublicKeyRef,
  type RecipientKeyPair,
} from './signer.js';
export {
  sealEnvelope,
  sealAndSerialize,
  serializeEnvelope,
  signingInput,
  headerAad,
  ENVELOPE_VERSION,
  ALG_SEALED,
  ALG_CLEAR,
  SIGNATURE_CONTEXT,
  type Envelope,
  type EnvelopeMeta,
  type RecipientRef,
  type SealInput,
} from './envelope.js';
export {
  createReceiver,
  memoryReplayStore,
  DEFAULT_REPLAY_CAPACITY,
  DEFAULT_MAX_ENVELOPE_BYTES,
  type Receiver,
  type ReceiverOptions,
  type ReplayStore,
  type OpenResult,
} from './receiver.js';
export { resolveRecipient } from './recipients.js';
export { loadOrCreateKeyStore, type KeyStore, type SigningKeyInfo, type DeidKeys } from './keystore.js';
export { ensureKeySet, describeKeyFile, type KeySet, type KeySetOptions } from './key-set.js';
export { loadOrCreateTokenKey, readTokenKey, TOKEN_KEY_FILE } from './token-key.js';
export { createTokenizer } from './tokenizer.js';
export {
  loadKek,
  ensureKekFile,
  kekSourceFromConfig,
  DEFAULT_KEK_ENV,
  DEFAULT_KEK_PASSPHRASE_ENV,
  DEFAULT_PWHASH_OPS,
  DEFAULT_PWHASH_MEM,
  type KekSource,
  type KekConfig,
} from './kek.js';
export {
  openAtRestCipher,
  AT_REST_LEGACY_VERSION,
  dayScope,
  patientScope,
  CRYPTO_MIGRATIONS,
  AT_REST_VERSION,
  AT_REST_OVERHEAD,
  DEFAULT_KEY_CACHE_SIZE,
  type AtRestCipher,
  type AtRestOptions,
  type ShredResult,
} from './at-rest.js';
export { scheduleKeyRotation, rotateNow, DEFAULT_ROTATION_CRON, DEFAULT_OVERLAP_MS, type RotationOptions } from './rotation.js';
export { bindRow, consentRowAad, queueItemAad, patientMemoryAad } from './row-aad.js';
export { rebindLegacyRows, type LegacyRowSpec, type RebindResult } from './rebind.js';
export { sqliteDataKeyTable, copyDataKeys, type DataKeyTable, type DataKeyRow, type KekRow } from './key-table.js';
export { openKeyTableCipher, scheduleKeyRefresh, type KeyTableCipher, type KeyTableCipherOptions, type KeyRefreshOptions } from './table-cipher.js';
export { postgresDataKeyTable, PG_CRYPTO_MIGRATIONS } from './postgres/index.js';
