/**
 * Consent withdrawn: every queued, retrying or dead row of these patients (for this
 * purpose, when given) becomes 'withdrawn', its payload destroyed, one audit event each.
 * Rows being delivered right now are left to the dispatcher's re-check.
 * `stillPermitted`, when given, is asked about each row: one the patient's other consents
 * still permit stays queued (withdrawing one consent must not destroy what another allows).
 * If it throws, the row is withdrawn (fail closed).
 */
import { auditEvents } from '../../audit/index.js';
import type { StillPermitted } from '../port.js';
import type { StoreContext } from './context.js';
import type { ChangedRow } from './statements.js';

/** A row a withdrawal may reach (both stores read these columns). */
export interface WithdrawableRow {
  seq: number;
  purpose: string;
  message_id: string;
  destination: string;
  patient_tokens: string;
  context: string;
}

export function withdrawForPatient(
  c: StoreContext,
  tokens: string[],
  purpose: string | undefined,
  reason: string,
  stillPermitted?: StillPermitted,
): number {
  const now = c.clock();
  let n = 0;
  const keeps = (row: WithdrawableRow) => {
    try {
      return stillPermitted!({ messageId: row.message_id, destination: row.destination, patientTokens: JSON.parse(row.patient_tokens) as string[], context: row.context }) === true;
    } catch {
      return false;
    }
  };
  let carried: ReturnType<typeof c.index.flush> = [];
  const tx = c.db.transaction(() => {
    // Rows acknowledged but not yet indexed are indexed now, in this transaction: the
    // withdrawal finds every acknowledged message.
    carried = c.index.flush();
    for (const token of new Set(tokens)) {
      const rows = c.s.selWithdrawable.all(token) as WithdrawableRow[];
      for (const row of rows) {
        if (purpose && row.purpose !== purpose) continue;
        if (stillPermitted && keeps(row)) continue;
        const r = c.s.updWithdrawn.get(reason, now, row.seq) as ChangedRow | undefined;
        if (!r) continue;
        n++;
        c.held.change(-r.payload_bytes);
        c.audit.append([
          auditEvents.consentWithdrawn({
            time: now,
            messageId: r.message_id,
            destination: r.destination,
            patientToken: token,
            purpose: row.purpose,
            decision: 'withdrawn',
            reason,
          }),
        ]);
        c.observer.withdrawn?.(r.destination);
      }
    }
  });
  try {
    tx();
  } catch (err) {
    c.index.add(carried);
    throw err;
  }
  return n;
}
