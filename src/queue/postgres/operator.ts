/** The operator's commands on PostgreSQL (darwaza queue list / retry / purge), as the SQLite store's. */
import { auditEvents } from '../../audit/index.js';
import { PURGE_CHUNK, stateCondition, toItemStatus, type ItemRow } from '../sqlite/index.js';
import { QueueWriteError, type ItemStatus, type ListFilter, type PurgeFilter, type RetryFilter } from '../types.js';
import { auditInTx, changeHeld, inTx, query, type PgContext } from './context.js';
import { ITEM_COLUMNS } from './reads.js';

/** Collects WHERE clauses with $n placeholders. */
class Where {
  readonly parts: string[] = [];
  readonly params: unknown[] = [];
  add(sql: (p: string) => string, value: unknown): void {
    this.params.push(value);
    this.parts.push(sql(`$${this.params.length}`));
  }
  raw(sql: string): void {
    this.parts.push(sql);
  }
  get sql(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
  next(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }
}

export async function list(c: PgContext, filter: ListFilter = {}): Promise<ItemStatus[]> {
  const w = new Where();
  if (filter.state) w.raw(stateCondition(filter.state));
  if (filter.destination) w.add((p) => `destination = ${p}`, filter.destination);
  if (filter.afterId !== undefined) w.add((p) => `seq > ${p}`, filter.afterId);
  if (filter.beforeId !== undefined) w.add((p) => `seq < ${p}`, filter.beforeId);
  if (filter.since !== undefined) w.add((p) => `enqueued_at >= ${p}`, filter.since);
  if (filter.until !== undefined) w.add((p) => `enqueued_at < ${p}`, filter.until);
  if (filter.messageId !== undefined) w.add((p) => `message_id = ${p}`, filter.messageId);
  if (filter.source !== undefined) w.add((p) => `message_id IN (SELECT id FROM queue_messages WHERE source = ${p})`, filter.source);
  const where = w.sql;
  const limit = w.next(Math.max(1, Math.min(filter.limit ?? 50, 10_000)));
  const rows = await query<ItemRow>(c, `SELECT ${ITEM_COLUMNS} FROM queue_items ${where} ORDER BY seq${filter.newestFirst ? ' DESC' : ''} LIMIT ${limit}`, w.params);
  return rows.map(toItemStatus);
}

export async function retryDead(c: PgContext, filter: RetryFilter = {}, actor = 'cli'): Promise<number> {
  const now = c.clock();
  const w = new Where();
  w.raw("state = 'dead'");
  w.raw('payload IS NOT NULL');
  if (filter.destination) w.add((p) => `destination = ${p}`, filter.destination);
  if (filter.messageIds?.length) w.add((p) => `message_id = ANY(${p})`, filter.messageIds);
  const where = w.sql;
  const t = w.next(now);
  const events = await inTx(c, async (q) => {
    const rows = (await q.query<{ message_id: string; destination: string }>(`UPDATE queue_items SET state = 'ready', attempts = 0, next_attempt_at = ${t}, updated_at = ${t} ${where} RETURNING message_id, destination`, w.params)).rows;
    const events = rows.map((r) =>
      auditEvents.adminAction({ time: now, messageId: r.message_id, destination: r.destination, reason: filter.reason ? `dead letter re-queued: ${filter.reason}` : 'dead letter re-queued', actor }),
    );
    await auditInTx(c, q, events);
    return events;
  });
  if (events.length) c.audit.append(events);
  return events.length;
}

/** Dead letters lose their payload, delivered rows are marked purged; chunked, one audit event per row. */
export async function purge(c: PgContext, filter: PurgeFilter, actor = 'cli'): Promise<number> {
  if (filter.state !== 'dead' && filter.state !== 'delivered') throw new QueueWriteError('purge state must be dead or delivered');
  const w = new Where();
  w.add((p) => `state = ${p}`, filter.state);
  if (filter.destination) w.add((p) => `destination = ${p}`, filter.destination);
  if (filter.messageIds?.length) w.add((p) => `message_id = ANY(${p})`, filter.messageIds);
  const total = (await query<{ n: number }>(c, `SELECT COUNT(*) AS n FROM queue_items ${w.sql}`, w.params))[0]?.n ?? 0;
  let done = 0;
  for (;;) {
    const now = c.clock();
    const params = [...w.params, now];
    const events = (rows: { message_id: string; destination: string }[]) =>
      rows.map((r) =>
        auditEvents.purged({ time: now, messageId: r.message_id, destination: r.destination, reason: `operator purge of ${filter.state} rows${filter.reason ? `: ${filter.reason}` : ''}`, actor }),
      );
    const rows = await inTx(c, async (q) => {
      const rows = (
        await q.query<{ message_id: string; destination: string; payload_bytes: number }>(
          `UPDATE queue_items SET state = 'purged', payload = NULL, updated_at = $${params.length}, lease_until = NULL, lease_owner = NULL
            WHERE seq IN (SELECT seq FROM queue_items ${w.sql} LIMIT ${PURGE_CHUNK} FOR UPDATE SKIP LOCKED)
            RETURNING message_id, destination, payload_bytes`,
          params,
        )
      ).rows;
      await auditInTx(c, q, events(rows));
      return rows;
    });
    if (rows.length) c.audit.append(events(rows));
    if (filter.state === 'dead') changeHeld(c, -rows.reduce((s, r) => s + r.payload_bytes, 0));
    done += rows.length;
    filter.onProgress?.(done, total);
    if (rows.length < PURGE_CHUNK) break;
  }
  return done;
}

export async function deliveredSince(c: PgContext, sinceMs: number): Promise<{ destination: string; count: number }[]> {
  return query<{ destination: string; count: number }>(c, "SELECT destination, COUNT(*) AS count FROM queue_items WHERE state = 'delivered' AND updated_at >= $1 GROUP BY destination", [sinceMs]);
}
