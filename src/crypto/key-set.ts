/**
 * The whole set of key material an appliance needs, made in one place: gateway signing
 * key, patient-token key, key-encryption key (when it comes from a file) and a demo
 * recipient key for each destination that has no configured recipient. Every command
 * that makes keys comes here, so no command leaves a half-made certs folder behind.
 * Idempotent: whatever exists is kept; `created` names what this call made.
 */
import { basename } from 'node:path';
import { loadOrCreateKeyStore, type KeyStore } from './keystore.js';

export interface KeySetOptions {
  /** The KEK comes from certs/kek.key (config `keys.kek: "file"`, the default): make it. */
  kekFile?: boolean;
  /** Destinations that need a demo recipient key pair (no recipientPublicKey configured). */
  demoRecipients?: readonly string[];
}

export interface KeySet {
  keys: KeyStore;
  /** Files this call made, relative to the certs folder, in the order made. */
  created: string[];
}

export async function ensureKeySet(certsDir: string, options: KeySetOptions = {}): Promise<KeySet> {
  const keys = await loadOrCreateKeyStore(certsDir);
  if (options.kekFile) keys.ensureKekFile();
  for (const d of options.demoRecipients ?? []) keys.demoRecipient(d);
  return { keys, created: [...keys.created] };
}

/** What a key file is, in words, for "created …" lines (undefined: not a key-set file). */
export function describeKeyFile(name: string): string | undefined {
  const base = basename(name);
  if (base === 'token.key') return 'patient-token key';
  if (base === 'kek.key') return 'key-encryption key';
  if (base === 'signing-keys.json') return 'list of gateway signing keys';
  if (/^signing-.*\.key$/.test(base)) return 'gateway signing key';
  const r = /^recipient-(.+)\.(key|pub)$/.exec(base);
  if (r) return `demo recipient ${r[2] === 'key' ? 'secret' : 'public'} key for ${r[1]}`;
  if (/(^|\/)deid\/[^/]+\.json$/.test(name)) return 'de-identification keys';
  return undefined;
}
