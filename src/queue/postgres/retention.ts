/**
 * Retention on PostgreSQL, as the SQLite store's: finished rows, messages left without rows
 * and old idempotency keys go; cipher scopes holding no payload and unused within the window
 * are shredded; expired dead letters lose their payload. Meant to run on one node at a time
 * (the leader, see leader.ts), though running it on two at once is safe.
 */
import { auditEvents } from '../../audit/index.js';
import type { AuditEvent } from '../../model/index.js';
import type { RetentionCounts, RetentionOptions } from '../port.js';
import { HOLDS_PAYLOAD, PURGE_CHUNK } from '../sqlite/index.js';
import { auditInTx, changeHeld, inTx, type PgContext } from './context.js';

export async function purgeDelivered(c: PgContext, olderThanMs: number, opts: RetentionOptions = {}): Promise<RetentionCounts> {
  const now = c.clock();
  const cutoff = now - olderThanMs;
  const cutoffIso = new Date(cutoff).toISOString();
  let items = 0;
  let messages = 0;
  let scopes = 0;
  for (;;) {
    const n = await inTx(c, async (q) => {
      const gone = (
        await q.query<{ message_id: string }>(
          `DELETE FROM queue_items WHERE seq IN (
             SELECT seq FROM queue_items WHERE state IN ('delivered', 'withdrawn', 'purged') AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING message_id`,
          [cutoff, PURGE_CHUNK],
        )
      ).rows;
      const ids = [...new Set(gone.map((g) => g.message_id))];
      if (ids.length) {
        const r = await q.query(
          'DELETE FROM queue_messages m WHERE m.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM queue_items i WHERE i.message_id = m.id)',
          [ids],
        );
        messages += r.rowCount ?? 0;
      }
      return gone.length;
    });
    items += n;
    if (n < PURGE_CHUNK) break;
  }
  for (;;) {
    const n = await inTx(c, async (q) =>
      (
        await q.query(
          `DELETE FROM queue_messages WHERE id IN (SELECT id FROM queue_messages WHERE queued_items = 0 AND received_at < $1 LIMIT $2)`,
          [cutoffIso, PURGE_CHUNK],
        )
      ).rowCount ?? 0,
    );
    messages += n;
    if (n < PURGE_CHUNK) break;
  }
  const shred: string[] = [];
  const summary = (scopes: number): AuditEvent[] =>
    items || messages || scopes
      ? [
          auditEvents.purged({
            time: now,
            reason: `retention: ${items} finished deliveries, ${messages} messages, ${scopes} key scopes older than ${Math.round(olderThanMs / 1000)} s`,
            actor: 'retention',
          }),
        ]
      : [];
  await inTx(c, async (q) => {
    await q.query('DELETE FROM queue_idempotency WHERE created_at < $1', [opts.idempotencyMs !== undefined ? now - opts.idempotencyMs : cutoff]);
    const old = (
      await q.query<{ scope: string }>(
        `DELETE FROM queue_scopes s WHERE last_used_at < $1
           AND NOT EXISTS (SELECT 1 FROM queue_items i WHERE i.cipher_scope = s.scope AND i.state IN ${HOLDS_PAYLOAD})
         RETURNING scope`,
        [cutoff],
      )
    ).rows;
    shred.push(...old.map((o) => o.scope));
    // The summary is recorded with the last change it counts; the keys are shredded after the commit.
    await auditInTx(c, q, summary(shred.length));
  });
  // The keys go after the rows naming them are gone from the database.
  for (const scope of shred) c.cipher.shred(scope);
  scopes = shred.length;
  const events = summary(scopes);
  if (events.length) c.audit.append(events);
  return { items, messages, scopes };
}

export async function expireDead(c: PgContext, olderThanMs: number): Promise<number> {
  const days = Math.round((olderThanMs / 86_400_000) * 10) / 10;
  let done = 0;
  for (;;) {
    const now = c.clock();
    const events = (rows: { message_id: string; destination: string }[]) =>
      rows.map((r) => auditEvents.purged({ time: now, messageId: r.message_id, destination: r.destination, reason: `retention: dead letter expired after ${days} days`, actor: 'retention' }));
    const rows = await inTx(c, async (q) => {
      const rows = (
        await q.query<{ message_id: string; destination: string; payload_bytes: number }>(
          `UPDATE queue_items SET state = 'purged', payload = NULL, updated_at = $1, lease_until = NULL, lease_owner = NULL
            WHERE seq IN (SELECT seq FROM queue_items WHERE state = 'dead' AND updated_at < $2 LIMIT ${PURGE_CHUNK} FOR UPDATE SKIP LOCKED)
            RETURNING message_id, destination, payload_bytes`,
          [now, now - olderThanMs],
        )
      ).rows;
      await auditInTx(c, q, events(rows));
      return rows;
    });
    if (rows.length) c.audit.append(events(rows));
    changeHeld(c, -rows.reduce((s, r) => s + r.payload_bytes, 0));
    done += rows.length;
    if (rows.length < PURGE_CHUNK) break;
  }
  return done;
}
