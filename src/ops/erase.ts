/**
 * A patient's erasure on the appliance: what it holds about one patient (by their tokens) is
 * removed or made unreadable, one audit entry records it, and the answer says what could not
 * be erased and why.
 *
 * - queued, retrying and dead payloads: withdrawn through the store port (payload dropped,
 *   each row audited, the reason names the erasure);
 * - stored facts: the patient memory (remembered birth date, weak-id bindings to the patient);
 * - per-patient key scopes ('p:<token>'): shredded;
 * - then the WAL is truncated, so no older page copy keeps what was deleted.
 */
import type { Db } from '../store/index.js';
import { patientScope, type AtRestCipher } from '../crypto/index.js';
import { auditEvents, type AuditLog } from '../audit/index.js';
import { PatientMemory, type ConsentRegistry } from '../consent/index.js';
import { SqliteQueueStore } from '../queue/index.js';

export interface ErasureOptions {
  tokens: readonly string[];
  cipher: AtRestCipher;
  audit: Pick<AuditLog, 'append'>;
  /** The registry, to count the consents this patient gave (they stay: see notErased). */
  consents?: Pick<ConsentRegistry, 'forTokens'>;
  actor: string;
  reason: string;
  clock?: () => Date;
}

export interface NotErased {
  what: string;
  why: string;
}

export interface ErasureResult {
  /** The patient's token (the first form), as the audit entry names it. */
  patientToken: string;
  queueRowsWithdrawn: number;
  storedFactsDeleted: number;
  keyScopesShredded: number;
  notErased: NotErased[];
}

const has = (db: Db, table: string) => !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);

export async function erasePatient(db: Db, o: ErasureOptions): Promise<ErasureResult> {
  const tokens = [...new Set(o.tokens)];
  if (tokens.length === 0) throw new Error('no patient tokens to erase');
  const clock = o.clock ?? (() => new Date());
  const notErased: NotErased[] = [];

  // Opening the store first indexes any queued rows not yet in the patient-token index.
  const store = SqliteQueueStore.open(db, { quotaBytes: Number.MAX_SAFE_INTEGER, minFreeDiskBytes: 0, cipher: o.cipher, audit: o.audit });
  // What was delivered is upstream: counted per destination before the rows change.
  const delivered = has(db, 'queue_item_patients')
    ? (db
        .prepare(
          `SELECT i.destination AS destination, COUNT(*) AS n FROM queue_item_patients p JOIN queue_items i ON i.seq = p.seq
            WHERE p.token IN (${tokens.map(() => '?').join(',')}) AND i.state = 'delivered' GROUP BY i.destination`,
        )
        .all(...tokens) as Array<{ destination: string; n: number }>)
    : [];

  const queueRowsWithdrawn = await store.withdrawForPatient(tokens, undefined, `erasure on request: ${o.reason}`);
  await store.close();

  let storedFactsDeleted = 0;
  if (has(db, 'patient_memory')) {
    const memory = PatientMemory.open(db, { cipher: o.cipher });
    storedFactsDeleted = memory.forget(tokens);
    memory.close();
  }

  let keyScopesShredded = 0;
  for (const t of tokens) if (o.cipher.shredScope(patientScope(t)).existed) keyScopesShredded++;

  const consents = o.consents?.forTokens(tokens).length ?? 0;

  o.audit.append([
    auditEvents.purged({
      time: clock(),
      patientToken: tokens[0],
      reason: `erasure on request (${o.reason}): ${queueRowsWithdrawn} queued or dead payloads withdrawn, ${storedFactsDeleted} stored facts deleted, ${keyScopesShredded} patient key scopes shredded`,
      actor: o.actor,
    }),
  ]);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    /* a reader holds the WAL: the next checkpoint removes the old pages */
  }

  notErased.push({ what: 'the audit log', why: 'it holds this patient only as a pseudonymous token, never an identifier, and it is append-only: it is the proof of what the appliance did, including this erasure' });
  for (const d of delivered) {
    notErased.push({ what: `${d.n} message${d.n === 1 ? '' : 's'} delivered to ${d.destination}`, why: 'delivered data is held upstream: ask that recipient to erase it (darwaza audit disclosures lists what went where)' });
  }
  if (consents) {
    notErased.push({ what: `${consents} consent record${consents === 1 ? '' : 's'}`, why: 'a consent is the record of what the patient permitted and stays under its legal hold; withdraw it (DELETE /fhir/Consent/{id}) if it is still active' });
  }
  notErased.push({ what: 'backups taken before now', why: 'they still hold the wrapped keys; they must expire (docs/operating.md, "Backups and crypto-shredding")' });
  return { patientToken: tokens[0]!, queueRowsWithdrawn, storedFactsDeleted, keyScopesShredded, notErased };
}
