/**
 * Shared factories for the audit tests (signer, database, events). When tap runs this
 * file on its own it only checks that the factories work.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getSodium } from '../../src/crypto/sodium.js';
import { openDatabase, type Db } from '../../src/store/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import type { Signer } from '../../src/audit/index.js';

export async function makeSigner(keyId = 'audit-key-1'): Promise<Signer & { privateKey: Uint8Array }> {
  const sodium = await getSodium();
  const kp = sodium.crypto_sign_keypair();
  return {
    keyId,
    publicKey: kp.publicKey,
    privateKey: kp.privateKey,
    sign: (bytes) => sodium.crypto_sign_detached(bytes, kp.privateKey),
  };
}

export function tempDir(prefix = 'darwaza-audit-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function tempDb(dir = tempDir()): { db: Db; file: string; dir: string } {
  const file = join(dir, 'darwaza.db');
  return { db: openDatabase(file), file, dir };
}

/** A fixed clock that moves one second per call. */
export function steppingClock(start = '2026-03-01T08:00:00.000Z') {
  let ms = Date.parse(start);
  return () => new Date((ms += 1000));
}

/** PHI-like strings from the test inputs: none may ever appear in the audit table or an export. */
export const PHI = {
  name: 'Ayesha Siddiqui',
  cnic: '35202-1234567-1',
  phone: '+92 300 1234567',
  mrn: 'MRN-00987654',
  email: 'ayesha@example.pk',
  dob: '1984-07-15',
  diagnosis: 'schizophrenia',
};

let n = 0;
export function makeEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  n++;
  return {
    event: 'delivered',
    time: new Date(Date.parse('2026-03-01T08:00:00.000Z') + n * 1000).toISOString(),
    messageId: `msg-${n}`,
    source: 'ehr-main',
    destination: 'nhsp-pk',
    purpose: 'TREAT',
    decision: 'permit',
    ruleIds: ['pk-residency', 'consent-required'],
    policySha256: 'a'.repeat(64),
    consentId: 'Consent/c-17',
    consentVersion: '3',
    patientToken: 'tok_' + String(n % 7).padStart(2, '0') + 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJK'.slice(0, 39),
    dataClasses: ['Observation', 'mental-health'],
    ...overrides,
  } as AuditEvent;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  t.test('the test factories make a working signer and database', async (t) => {
    const s = await makeSigner();
    t.equal(s.publicKey.length, 32);
    const { db } = tempDb();
    t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });
}
