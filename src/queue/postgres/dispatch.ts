/**
 * The dispatcher's side on PostgreSQL. claim() takes due rows with FOR UPDATE SKIP LOCKED
 * in (lane, seq) order and leases them to this node (owner + expiry), so nodes claiming at
 * once never get the same row; payloads are decrypted, and one that fails authentication is
 * dead-lettered, never thrown. settle() applies results in one transaction, only to rows this
 * node still holds (a row whose lease expired and was reclaimed elsewhere is left alone).
 * Audit events are appended to the shared log inside the transaction, and to the sink after it.
 */
import { auditEvents, integrityFailureEvent } from '../../audit/index.js';
import { queueItemAad } from '../../crypto/index.js';
import type { AuditEvent } from '../../model/index.js';
import { laneName, tokenOf, type ChangedRow } from '../sqlite/index.js';
import type { ClaimedItem, Settlement } from '../types.js';
import { auditInTx, changeHeld, inTx, query, type PgContext, type Queryable } from './context.js';

const RETURNS = 'RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens';

interface ClaimRow {
  seq: number;
  message_id: string;
  destination: string;
  lane: number;
  attempts: number;
  enqueued_at: number;
  content_type: string;
  cipher_scope: string;
  patient_tokens: string;
  context: string;
  payload: Buffer | null;
}

/** After-commit effects of a transaction: audit events, held-count changes, observer calls. */
class Effects {
  audit: AuditEvent[] = [];
  held = 0;
  calls: (() => void)[] = [];
  apply(c: PgContext): void {
    changeHeld(c, this.held);
    if (this.audit.length) c.audit.append(this.audit);
    for (const f of this.calls) f();
  }
}

export class PgDispatch {
  constructor(
    private readonly c: PgContext,
    private readonly leaseMs: number,
  ) {}

  async claim(destination: string, limit: number): Promise<ClaimedItem[]> {
    if (limit <= 0) return [];
    const c = this.c;
    const now = c.clock();
    const fx = new Effects();
    const out = await inTx(c, async (q) => {
      const r = await q.query<ClaimRow>(
        `WITH due AS (
           SELECT seq FROM queue_items
            WHERE destination = $1 AND state = 'ready' AND next_attempt_at <= $2
            ORDER BY lane, seq LIMIT $3 FOR UPDATE SKIP LOCKED)
         UPDATE queue_items i SET state = 'inflight', lease_owner = $4, lease_until = $5, updated_at = $2
           FROM due WHERE i.seq = due.seq
         RETURNING i.seq, i.message_id, i.destination, i.lane, i.attempts, i.enqueued_at, i.content_type, i.cipher_scope,
                   i.patient_tokens, i.context, i.payload`,
        [destination, now, limit, c.nodeId, now + this.leaseMs],
      );
      const rows = r.rows.sort((a, b) => a.lane - b.lane || a.seq - b.seq);
      const items: ClaimedItem[] = [];
      for (const row of rows) {
        let payload: Uint8Array;
        try {
          if (!row.payload) throw new Error('payload missing');
          payload = c.cipher.decrypt(row.payload, row.cipher_scope, queueItemAad(row.message_id, row.destination));
        } catch {
          // Bound to (message id, destination): a payload altered, or moved here from another row, is refused.
          fx.audit.push(integrityFailureEvent({ table: 'queue_items', reason: 'payload failed authentication', time: new Date(now), messageId: row.message_id, destination: row.destination }));
          await this.deadLetter(q, fx, row.seq, 'payload failed authentication', undefined, now, false);
          continue;
        }
        items.push({
          id: row.seq,
          messageId: row.message_id,
          destination: row.destination,
          lane: laneName(row.lane),
          payload,
          contentType: row.content_type,
          cipherScope: row.cipher_scope,
          patientTokens: JSON.parse(row.patient_tokens) as string[],
          context: row.context,
          attempt: row.attempts + 1,
          enqueuedAt: row.enqueued_at,
        });
      }
      await auditInTx(c, q, fx.audit);
      return items;
    });
    fx.apply(c);
    return out;
  }

  async settle(settlements: Settlement[]): Promise<void> {
    if (!settlements.length) return;
    const c = this.c;
    const now = c.clock();
    const fx = new Effects();
    const mine = `seq = $1 AND state = 'inflight' AND lease_owner = $2`;
    await inTx(c, async (q) => {
      for (const st of settlements) {
        switch (st.kind) {
          case 'delivered': {
            const r = (
              await q.query<ChangedRow>(
                `UPDATE queue_items SET state = 'delivered', attempts = attempts + 1, delivered_at = $3, updated_at = $3,
                        last_status = $4, last_error = NULL, lease_until = NULL, lease_owner = NULL, payload = NULL
                  WHERE ${mine} ${RETURNS}`,
                [st.id, c.nodeId, now, st.status ?? null],
              )
            ).rows[0];
            if (!r) break;
            fx.held -= r.payload_bytes;
            fx.audit.push(
              auditEvents.delivered({ time: now, messageId: r.message_id, destination: r.destination, ...tokenOf(r), decision: 'delivered', reason: st.status ? `HTTP ${st.status}` : 'delivered' }),
            );
            fx.calls.push(() => c.observer.delivered?.(r.destination, now - r.enqueued_at));
            break;
          }
          case 'retry': {
            const r = (
              await q.query<ChangedRow>(
                `UPDATE queue_items SET state = 'ready', attempts = attempts + 1, next_attempt_at = $3, last_error = $4,
                        last_status = $5, updated_at = $6, lease_until = NULL, lease_owner = NULL
                  WHERE ${mine} ${RETURNS}`,
                [st.id, c.nodeId, st.nextAttemptAt, st.error, st.status ?? null, now],
              )
            ).rows[0];
            if (r) fx.calls.push(() => c.observer.retried?.(r.destination));
            break;
          }
          case 'dead':
            await this.deadLetter(q, fx, st.id, st.reason, st.status, now, true);
            break;
          case 'withdrawn': {
            const r = (
              await q.query<ChangedRow>(
                `UPDATE queue_items SET state = 'withdrawn', last_error = $3, updated_at = $4, lease_until = NULL, lease_owner = NULL, payload = NULL
                  WHERE seq = $1 AND (state IN ('ready', 'dead') OR (state = 'inflight' AND lease_owner = $2)) ${RETURNS}`,
                [st.id, c.nodeId, st.reason, now],
              )
            ).rows[0];
            if (!r) break;
            fx.held -= r.payload_bytes;
            fx.audit.push(
              ...(st.audit?.length
                ? st.audit
                : [auditEvents.consentWithdrawn({ time: now, messageId: r.message_id, destination: r.destination, ...tokenOf(r), decision: 'withdrawn', reason: st.reason })]),
            );
            fx.calls.push(() => c.observer.withdrawn?.(r.destination));
            break;
          }
          case 'release':
            await q.query(
              `UPDATE queue_items SET state = 'ready', next_attempt_at = COALESCE($3, next_attempt_at), updated_at = $4,
                      lease_until = NULL, lease_owner = NULL WHERE ${mine}`,
              [st.id, c.nodeId, st.notBefore ?? null, now],
            );
            break;
        }
      }
      await auditInTx(c, q, fx.audit);
    });
    fx.apply(c);
  }

  private async deadLetter(q: Queryable, fx: Effects, id: number, reason: string, status: number | undefined, now: number, countAttempt: boolean): Promise<void> {
    const r = (
      await q.query<ChangedRow>(
        `UPDATE queue_items SET state = 'dead', attempts = attempts + $6, last_error = $3, last_status = $4, updated_at = $5,
                lease_until = NULL, lease_owner = NULL
          WHERE seq = $1 AND (state = 'ready' OR (state = 'inflight' AND lease_owner = $2)) ${RETURNS}`,
        [id, this.c.nodeId, reason, status ?? null, now, countAttempt ? 1 : 0],
      )
    ).rows[0];
    if (!r) return;
    fx.audit.push(auditEvents.deadLettered({ time: now, messageId: r.message_id, destination: r.destination, ...tokenOf(r), decision: 'dead', reason }));
    fx.calls.push(() => this.c.observer.deadLettered?.(r.destination));
  }

  async wake(destination: string): Promise<number> {
    const now = this.c.clock();
    const r = await query(this.c, `UPDATE queue_items SET next_attempt_at = $1 WHERE destination = $2 AND state = 'ready' AND next_attempt_at > $1 RETURNING seq`, [now, destination]);
    return r.length;
  }

  async oldestWaiting(): Promise<{ destination: string; enqueuedAt: number }[]> {
    const rows = await query<{ destination: string; enqueued_at: number }>(
      this.c,
      `SELECT destination, MIN(enqueued_at) AS enqueued_at FROM queue_items WHERE state IN ('ready', 'inflight') GROUP BY destination`,
    );
    return rows.map((r) => ({ destination: r.destination, enqueuedAt: r.enqueued_at }));
  }

  /** Start-up: rows this node left in flight become ready again (attempt not counted). */
  async recoverOwn(): Promise<number> {
    const r = await query(this.c, `UPDATE queue_items SET state = 'ready', lease_until = NULL, lease_owner = NULL WHERE state = 'inflight' AND lease_owner = $1 RETURNING seq`, [this.c.nodeId]);
    return r.length;
  }

  /** Any node's rows whose lease ran out (that node died or hung) become ready again. */
  async reclaimExpired(): Promise<number> {
    const r = await query(
      this.c,
      `UPDATE queue_items SET state = 'ready', lease_until = NULL, lease_owner = NULL WHERE state = 'inflight' AND lease_until < $1 RETURNING seq`,
      [this.c.clock()],
    );
    return r.length;
  }
}
