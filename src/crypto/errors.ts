/** Errors the crypto folder throws on purpose. Messages never contain payloads or key material. */

/** An at-rest ciphertext failed authentication (altered, truncated, wrong scope, unknown format). */
export class PayloadTamperedError extends Error {
  override name = 'PayloadTamperedError';
  readonly code: 'PAYLOAD_TAMPERED' | 'DATA_KEY_GONE' = 'PAYLOAD_TAMPERED';
}

/**
 * The data key a ciphertext was written under no longer exists (crypto-shredded, or never
 * made in this database). A subclass of PayloadTamperedError so that code written against
 * the PayloadCipher contract ("decrypt throws PayloadTamperedError") handles it too; check
 * `code === 'DATA_KEY_GONE'` (or instanceof DataKeyGoneError) to tell a purge from an attack.
 */
export class DataKeyGoneError extends PayloadTamperedError {
  override name = 'DataKeyGoneError';
  override readonly code = 'DATA_KEY_GONE' as const;
}

/** The key-encryption key could not be loaded, or does not match the one the database was made with. */
export class KekError extends Error {
  override name = 'KekError';
  readonly code = 'KEK_INVALID';
}

/** A key file or key directory is unusable (permissions, format); the message says how to fix it. */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
  readonly code = 'KEY_FILE_INVALID';
}

/** Bad input to sealEnvelope (names the field). */
export class EnvelopeInputError extends Error {
  override name = 'EnvelopeInputError';
  readonly code = 'ENVELOPE_INPUT';
}
