/** The operator's commands (darwaza queue list / retry / purge); inspect is a status read. */
import { auditEvents } from '../../audit/index.js';
import { QueueWriteError, type ItemStatus, type ListFilter, type PurgeFilter, type RetryFilter } from '../types.js';
import type { StoreContext } from './context.js';
import { PURGE_CHUNK } from './options.js';
import { stateCondition, toItemStatus } from './rows.js';
import type { ItemRow } from './statements.js';

export function list(c: StoreContext, filter: ListFilter = {}): ItemStatus[] {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.state) where.push(stateCondition(filter.state));
  if (filter.destination) {
    where.push('destination = ?');
    params.push(filter.destination);
  }
  if (filter.afterId !== undefined) {
    where.push('seq > ?');
    params.push(filter.afterId);
  }
  if (filter.beforeId !== undefined) {
    where.push('seq < ?');
    params.push(filter.beforeId);
  }
  if (filter.since !== undefined) {
    where.push('enqueued_at >= ?');
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    where.push('enqueued_at < ?');
    params.push(filter.until);
  }
  if (filter.messageId !== undefined) {
    where.push('message_id = ?');
    params.push(filter.messageId);
  }
  if (filter.source !== undefined) {
    where.push('message_id IN (SELECT id FROM queue_messages WHERE source = ?)');
    params.push(filter.source);
  }
  params.push(Math.max(1, Math.min(filter.limit ?? 50, 10_000)));
  const rows = c.db
    .prepare(
      `SELECT seq, message_id, destination, lane, state, attempts, enqueued_at, next_attempt_at, updated_at, delivered_at,
              last_error, last_status, payload_bytes
         FROM queue_items ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq${filter.newestFirst ? ' DESC' : ''} LIMIT ?`,
    )
    .all(...params) as ItemRow[];
  return rows.map(toItemStatus);
}

/** Dead letters (that still hold their payload) → ready, attempts reset. Audited as admin actions. */
export function retryDead(c: StoreContext, filter: RetryFilter = {}, actor = 'cli'): number {
  const now = c.clock();
  const where = ["state = 'dead'", 'payload IS NOT NULL'];
  const params: (string | number)[] = [];
  if (filter.destination) {
    where.push('destination = ?');
    params.push(filter.destination);
  }
  if (filter.messageIds?.length) {
    where.push(`message_id IN (${filter.messageIds.map(() => '?').join(', ')})`);
    params.push(...filter.messageIds);
  }
  const stmt = c.db.prepare(
    `UPDATE queue_items SET state = 'ready', attempts = 0, next_attempt_at = ?, updated_at = ?
      WHERE ${where.join(' AND ')} RETURNING message_id, destination`,
  );
  let n = 0;
  c.db.transaction(() => {
    const rows = stmt.all(now, now, ...params) as { message_id: string; destination: string }[];
    n = rows.length;
    if (n) {
      c.audit.append(
        rows.map((r) =>
          auditEvents.adminAction({ time: now, messageId: r.message_id, destination: r.destination, reason: filter.reason ? `dead letter re-queued: ${filter.reason}` : 'dead letter re-queued', actor }),
        ),
      );
    }
  })();
  return n;
}

/**
 * Operator purge: dead letters lose their payload (unrecoverable), delivered rows are
 * marked purged. Chunked transactions, one 'purged' audit event per row.
 */
export function purge(c: StoreContext, filter: PurgeFilter, actor = 'cli'): number {
  if (filter.state !== 'dead' && filter.state !== 'delivered') {
    throw new QueueWriteError('purge state must be dead or delivered');
  }
  const ids = filter.messageIds?.length ? ` AND message_id IN (${filter.messageIds.map(() => '?').join(', ')})` : '';
  const dest = (filter.destination ? ' AND destination = ?' : '') + ids;
  const destParams = [...(filter.destination ? [filter.destination] : []), ...(filter.messageIds?.length ? filter.messageIds : [])];
  const total = (
    c.db.prepare(`SELECT COUNT(*) AS n FROM queue_items WHERE state = ?${dest}`).get(filter.state, ...destParams) as {
      n: number;
    }
  ).n;
  const step = c.db.prepare(
    `UPDATE queue_items SET state = 'purged', payload = NULL, updated_at = ?, lease_until = NULL
      WHERE seq IN (SELECT seq FROM queue_items WHERE state = ?${dest} LIMIT ${PURGE_CHUNK})
      RETURNING message_id, destination, payload_bytes`,
  );
  let done = 0;
  for (;;) {
    const now = c.clock();
    const rows = c.db.transaction(() => {
      const changed = step.all(now, filter.state, ...destParams) as { message_id: string; destination: string; payload_bytes: number }[];
      if (changed.length) {
        c.audit.append(
          changed.map((r) =>
            auditEvents.purged({
              time: now,
              messageId: r.message_id,
              destination: r.destination,
              reason: `operator purge of ${filter.state} rows${filter.reason ? `: ${filter.reason}` : ''}`,
              actor,
            }),
          ),
        );
      }
      return changed;
    })();
    // Only dead rows still held a payload (delivered ones lost it at delivery).
    if (filter.state === 'dead') for (const r of rows) c.held.change(-r.payload_bytes);
    done += rows.length;
    filter.onProgress?.(done, total);
    if (rows.length < PURGE_CHUNK) break;
  }
  return done;
}

/** Deliveries per destination since an epoch ms (the console's last hour and day); uses the (state, updated_at) index. */
export function deliveredSince(c: StoreContext, sinceMs: number): { destination: string; count: number }[] {
  return c.db
    .prepare("SELECT destination, COUNT(*) AS count FROM queue_items WHERE state = 'delivered' AND updated_at >= ? GROUP BY destination")
    .all(sinceMs) as { destination: string; count: number }[];
}
