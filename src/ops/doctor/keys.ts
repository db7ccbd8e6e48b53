/**
 * Keys: the signing-key list and its active key, the patient-token key and the key-encryption
 * key are present and load, read-only (doctor never makes a key), and the KEK is the one the
 * database was set up with (its check value matches).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { databaseFile, openDatabase } from '../../store/index.js';
import { getSodium, kekSourceFromConfig, openAtRestCipher, readTokenKey, signerFromSeed, TOKEN_KEY_FILE } from '../../crypto/index.js';
import { fail, ok, skip, warn, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';

interface Manifest {
  active?: string;
  keys?: Array<{ keyId?: string; publicKey?: string; removedAt?: string }>;
}

/** Every public key signing-keys.json lists (also removed ones: they verify what they signed). */
export function listedPublicKeys(certsDir: string): Uint8Array[] {
  const m = JSON.parse(readFileSync(join(certsDir, 'signing-keys.json'), 'utf8')) as Manifest;
  return (m.keys ?? []).filter((k) => typeof k.publicKey === 'string').map((k) => new Uint8Array(Buffer.from(k.publicKey!, 'base64')));
}

const msgOf = (err: unknown) => (err as Error)?.message?.slice(0, 300) ?? 'unreadable';

export async function checkKeys(ctx: DoctorContext): Promise<Finding[]> {
  await getSodium();
  const out: Finding[] = [];
  const dir = ctx.certsDir;
  const init = `run \`darwaza init\` (it makes what is missing), or restore the certs folder from a backup`;
  // The signing keys.
  const manifestFile = join(dir, 'signing-keys.json');
  if (!existsSync(manifestFile)) out.push(fail('keys', `no signing-keys.json in ${dir}`, init));
  else {
    try {
      const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
      const active = m.active ?? '';
      const seed = Buffer.from(readFileSync(join(dir, `signing-${active}.key`), 'utf8').trim(), 'base64');
      if (seed.length !== 32) throw new Error(`signing-${active}.key does not hold 32 bytes`);
      const s = signerFromSeed(new Uint8Array(seed));
      if (s.keyId !== active) throw new Error(`signing-${active}.key holds another key (${s.keyId})`);
      out.push(ok('keys', `the active signing key ${active} loads`));
    } catch (err) {
      out.push(fail('keys', `the active signing key does not load: ${msgOf(err)}`, `restore the certs folder from a backup; if the key is lost, \`darwaza keys rotate\` makes a new one (receivers must trust it)`));
    }
  }
  // The patient-token key: without it no patient can be found again (consents, disclosures, erasure).
  const tokenFile = join(dir, TOKEN_KEY_FILE);
  if (!existsSync(tokenFile)) out.push(fail('keys', `no ${TOKEN_KEY_FILE} in ${dir}`, `restore it from a backup: a new one would not match any stored patient token`));
  else {
    try {
      readTokenKey(tokenFile, { privateOnly: false });
      out.push(ok('keys', `the patient-token key loads`));
    } catch (err) {
      out.push(fail('keys', `${TOKEN_KEY_FILE} does not load: ${msgOf(err)}`, 'restore it from a backup'));
    }
  }
  out.push(await checkKek(ctx));
  return out;
}

async function checkKek(ctx: DoctorContext): Promise<Finding> {
  const from = ctx.config?.keys.kek ?? 'file';
  let source;
  try {
    source = kekSourceFromConfig(from, { certsDir: ctx.certsDir, env: ctx.env });
  } catch (err) {
    return from === 'passphrase'
      ? skip('keys', `the KEK comes from a passphrase that is not available to doctor (${msgOf(err)}); it was not checked`)
      : fail('keys', `the key-encryption key is not available: ${msgOf(err)}`, from === 'env' ? 'set the variable in the service environment (systemd: LoadCredential= or Environment=)' : 'restore kek.key from a backup');
  }
  if (source.from === 'file' && !existsSync(source.path)) {
    return fail('keys', `the key-encryption key ${source.path} is missing`, 'restore kek.key from a backup: without it the queue and the consents cannot be read');
  }
  const file = databaseFile(ctx.dataDir);
  if (!existsSync(file)) return warn('keys', 'the key-encryption key is present; there is no database yet to check it against', 'start the gateway once');
  let db;
  try {
    db = openDatabase(file, { readonly: true });
    const set = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'crypto_kek'").get() && db.prepare('SELECT 1 FROM crypto_kek WHERE id = 1').get();
    if (!set) return ok('keys', 'the key-encryption key loads (the database has not used one yet)');
    const cipher = await openAtRestCipher(db, { kek: source });
    cipher.close();
    return ok('keys', `the key-encryption key (${from}) is the one the database was set up with`);
  } catch (err) {
    return fail('keys', `the key-encryption key does not open the database: ${msgOf(err)}`, 'configure the KEK the database was set up with (keys.kek), or restore kek.key from the backup made with this database');
  } finally {
    db?.close();
  }
}
