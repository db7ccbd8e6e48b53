/**
 * Retention: deletes delivered / withdrawn / purged rows last changed before
 * now - olderThanMs (their payloads are already gone), messages left without rows,
 * old idempotency keys; then shreds cipher scopes that hold no payload and were not
 * used within the window. One summary 'purged' audit event per run that removed anything.
 */
import { auditEvents } from '../../audit/index.js';
import type { RetentionCounts, RetentionOptions } from '../port.js';
import type { StoreContext } from './context.js';
import { PURGE_CHUNK } from './options.js';

export function purgeDelivered(c: StoreContext, olderThanMs: number, opts: RetentionOptions = {}): RetentionCounts {
  const { db, s } = c;
  const now = c.clock();
  const cutoff = now - olderThanMs;
  const cutoffIso = new Date(cutoff).toISOString();
  let items = 0;
  let messages = 0;
  let scopes = 0;
  for (;;) {
    const n = db.transaction(() => {
      const gone = s.oldTerminal.all(cutoff, PURGE_CHUNK) as { message_id: string }[];
      for (const id of new Set(gone.map((g) => g.message_id))) {
        messages += s.delMessageIfEmpty.run(id, id).changes;
      }
      return gone.length;
    })();
    items += n;
    if (n < PURGE_CHUNK) break;
  }
  for (;;) {
    const n = s.delOldItemlessMessages.run(cutoffIso, PURGE_CHUNK).changes;
    messages += n;
    if (n < PURGE_CHUNK) break;
  }
  db.transaction(() => {
    s.delOldIdem.run(opts.idempotencyMs !== undefined ? now - opts.idempotencyMs : cutoff);
    for (const { scope } of s.oldScopes.all(cutoff) as { scope: string }[]) {
      if (s.scopeInUse.get(scope)) continue;
      c.cipher.shred(scope);
      s.delScope.run(scope);
      scopes++;
    }
    if (items || messages || scopes) {
      c.audit.append([
        auditEvents.purged({
          time: now,
          reason: `retention: ${items} finished deliveries, ${messages} messages, ${scopes} key scopes older than ${Math.round(olderThanMs / 1000)} s`,
          actor: 'retention',
        }),
      ]);
    }
  })();
  return { items, messages, scopes };
}

/**
 * Dead letters older than the window (by their last change) lose their payload and become
 * 'purged', one audit entry each naming the rule: a dead letter kept forever is PHI kept forever.
 */
export function expireDead(c: StoreContext, olderThanMs: number): number {
  const now = c.clock();
  const step = c.db.prepare(
    `UPDATE queue_items SET state = 'purged', payload = NULL, updated_at = ?, lease_until = NULL
      WHERE seq IN (SELECT seq FROM queue_items WHERE state = 'dead' AND updated_at < ? LIMIT ${PURGE_CHUNK})
      RETURNING message_id, destination, payload_bytes`,
  );
  const days = Math.round((olderThanMs / 86_400_000) * 10) / 10;
  let done = 0;
  for (;;) {
    const rows = c.db.transaction(() => {
      const changed = step.all(now, now - olderThanMs) as { message_id: string; destination: string; payload_bytes: number }[];
      if (changed.length) {
        c.audit.append(
          changed.map((r) =>
            auditEvents.purged({ time: now, messageId: r.message_id, destination: r.destination, reason: `retention: dead letter expired after ${days} days`, actor: 'retention' }),
          ),
        );
      }
      return changed;
    })();
    for (const r of rows) c.held.change(-r.payload_bytes);
    done += rows.length;
    if (rows.length < PURGE_CHUNK) break;
  }
  return done;
}
