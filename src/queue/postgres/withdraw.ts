/**
 * Consent withdrawn, on PostgreSQL: as the SQLite store (src/queue/sqlite/withdraw.ts). Rows
 * being delivered right now are left to the dispatcher's re-check; `stillPermitted` keeps a row
 * another consent still allows (a throw withdraws it: fail closed). One transaction, with its
 * audit entries in the shared log; the sink hears of them after it committed.
 */
import { auditEvents } from '../../audit/index.js';
import type { AuditEvent } from '../../model/index.js';
import type { StillPermitted } from '../port.js';
import type { ChangedRow, WithdrawableRow } from '../sqlite/index.js';
import { auditInTx, changeHeld, inTx, type PgContext } from './context.js';

export async function withdrawForPatient(c: PgContext, tokens: string[], purpose: string | undefined, reason: string, stillPermitted?: StillPermitted): Promise<number> {
  const now = c.clock();
  const keeps = async (row: WithdrawableRow) => {
    try {
      return (await stillPermitted!({ messageId: row.message_id, destination: row.destination, patientTokens: JSON.parse(row.patient_tokens) as string[], context: row.context })) === true;
    } catch {
      return false;
    }
  };
  const audit: AuditEvent[] = [];
  const dests: string[] = [];
  let held = 0;
  await inTx(c, async (q) => {
    for (const token of new Set(tokens)) {
      const rows = (
        await q.query<WithdrawableRow>(
          `SELECT i.seq, m.purpose, i.message_id, i.destination, i.patient_tokens, i.context FROM queue_item_patients p
             JOIN queue_items i ON i.seq = p.seq JOIN queue_messages m ON m.id = i.message_id
            WHERE p.token = $1 AND i.state IN ('ready', 'dead') ORDER BY i.seq FOR UPDATE OF i`,
          [token],
        )
      ).rows;
      for (const row of rows) {
        if (purpose && row.purpose !== purpose) continue;
        if (stillPermitted && (await keeps(row))) continue;
        const r = (
          await q.query<ChangedRow>(
            `UPDATE queue_items SET state = 'withdrawn', last_error = $2, updated_at = $3, lease_until = NULL, lease_owner = NULL, payload = NULL
              WHERE seq = $1 AND state IN ('ready', 'dead')
              RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
            [row.seq, reason, now],
          )
        ).rows[0];
        if (!r) continue;
        held += r.payload_bytes;
        dests.push(r.destination);
        audit.push(auditEvents.consentWithdrawn({ time: now, messageId: r.message_id, destination: r.destination, patientToken: token, purpose: row.purpose, decision: 'withdrawn', reason }));
      }
    }
    await auditInTx(c, q, audit);
  });
  changeHeld(c, -held);
  if (audit.length) c.audit.append(audit);
  for (const d of dests) c.observer.withdrawn?.(d);
  return dests.length;
}
