/**
 * Consent versions written before at-rest ciphertexts were bound to their rows: re-encrypted
 * once, when the registry is first opened by this version, bound to (id, version, status).
 */
import type { Db } from '../store/index.js';
import { rebindLegacyRows, consentRowAad, type AtRestCipher, type RebindResult } from '../crypto/index.js';

interface Row {
  rowid: number;
  id: string;
  version: number;
  status: string;
  encrypted: number;
  resource: Buffer;
}

export function rebindLegacyConsents(db: Db, cipher: Pick<AtRestCipher, 'rebindLegacy'>): RebindResult {
  return rebindLegacyRows<Row>(db, cipher, {
    module: 'consent-at-rest-v2',
    select: 'SELECT rowid, id, version, status, encrypted, resource FROM consent_version WHERE rowid > ? ORDER BY rowid LIMIT ?',
    cursor: (r) => r.rowid,
    encrypted: (r) => r.encrypted === 1,
    blob: (r) => r.resource,
    scope: () => 'consent',
    aad: (r) => consentRowAad(r.id, r.version, r.status),
    update: (tx, r, blob) => void tx.prepare('UPDATE consent_version SET resource = ? WHERE rowid = ?').run(Buffer.from(blob), r.rowid),
  });
}
