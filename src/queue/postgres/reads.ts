/** Status reads on PostgreSQL: idempotent answers, one message with its rows, counts per destination and state. */
import { HOLDS_PAYLOAD, toCountRows, toMessageStatus, type ItemRow, type MessageRow, type StoredCountRow } from '../sqlite/index.js';
import type { CountRow, IdempotentAnswer, MessageStatus, StoredState } from '../types.js';
import { query, type PgContext } from './context.js';

export const ITEM_COLUMNS = `seq, message_id, destination, lane, state, attempts, enqueued_at, next_attempt_at, updated_at, delivered_at,
  last_error, last_status, payload_bytes`;

export async function findIdempotent(c: PgContext, key: string): Promise<IdempotentAnswer | undefined> {
  const row = (await query<{ response: string; request_sha256: string | null }>(c, 'SELECT response, request_sha256 FROM queue_idempotency WHERE key = $1', [key]))[0];
  return row ? { response: row.response, ...(row.request_sha256 ? { requestSha256: row.request_sha256 } : {}) } : undefined;
}

export async function getMessage(c: PgContext, id: string): Promise<MessageStatus | undefined> {
  const m = (await query<MessageRow>(c, 'SELECT id, received_at, source, purpose, format, outcomes FROM queue_messages WHERE id = $1', [id]))[0];
  if (!m) return undefined;
  const items = await query<ItemRow>(c, `SELECT ${ITEM_COLUMNS} FROM queue_items WHERE message_id = $1 ORDER BY seq`, [id]);
  return toMessageStatus(m, items);
}

export async function counts(c: PgContext): Promise<CountRow[]> {
  const rows = await query<StoredCountRow>(
    c,
    `SELECT destination, state, COUNT(*) AS n, COUNT(*) FILTER (WHERE attempts > 0) AS retried_n,
            COALESCE(SUM(payload_bytes) FILTER (WHERE state IN ${HOLDS_PAYLOAD}), 0)::bigint AS bytes,
            COALESCE(SUM(payload_bytes) FILTER (WHERE attempts > 0 AND state IN ${HOLDS_PAYLOAD}), 0)::bigint AS retried_bytes
       FROM queue_items GROUP BY destination, state ORDER BY destination, state`,
  );
  return toCountRows(rows);
}

/** Bytes of payloads held over all nodes (the quota's count). */
export async function heldBytes(c: PgContext): Promise<number> {
  const r = await query<{ b: number }>(c, `SELECT COALESCE(SUM(payload_bytes), 0)::bigint AS b FROM queue_items WHERE state IN ${HOLDS_PAYLOAD}`);
  return r[0]?.b ?? 0;
}
