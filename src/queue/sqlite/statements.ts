/**
 * Every statement the store runs more than once, prepared once at open. The operator's
 * filtered queries (list, retry, purge) are built per call from their filter.
 */
import type { Db } from '../../store/index.js';
import type { StoredState } from '../types.js';

/** States whose rows still hold their payload (and count toward the quota). */
export const HOLDS_PAYLOAD = "('ready', 'inflight', 'dead')";

export type Statements = ReturnType<typeof prepareStatements>;

/** A row as status reads return it. */
export interface ItemRow {
  seq: number;
  message_id: string;
  destination: string;
  lane: number;
  state: StoredState;
  attempts: number;
  enqueued_at: number;
  next_attempt_at: number;
  updated_at: number;
  delivered_at: number | null;
  last_error: string | null;
  last_status: number | null;
  payload_bytes: number;
}

/** A row as claim reads it. */
export interface ClaimRow {
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
  payload_bytes: number;
}

/** What a state change returns (UPDATE … RETURNING). */
export interface ChangedRow {
  message_id: string;
  destination: string;
  payload_bytes: number;
  enqueued_at: number;
  /** JSON array; the first is the token the message's other audit entries carry. */
  patient_tokens: string;
}

export function prepareStatements(db: Db) {
return {
    heldBytes: db.prepare(
      `SELECT SUM(payload_bytes) AS b FROM queue_items INDEXED BY queue_items_claim WHERE state IN ${HOLDS_PAYLOAD}`,
    ),
    getIdem: db.prepare('SELECT response, request_sha256 FROM queue_idempotency WHERE key = ?'),
    insMessage: db.prepare(
      `INSERT INTO queue_messages (id, received_at, source, purpose, format, outcomes, idempotency_key, queued_items)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insIdem: db.prepare('INSERT INTO queue_idempotency (key, message_id, response, created_at, request_sha256) VALUES (?, ?, ?, ?, ?)'),
    insItem: db.prepare(
      `INSERT INTO queue_items (message_id, destination, lane, state, attempts, enqueued_at, next_attempt_at, updated_at,
         content_type, cipher_scope, patient_tokens, context, payload, payload_bytes)
       VALUES (?, ?, ?, 'ready', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    touchScope: db.prepare(
      'INSERT INTO queue_scopes (scope, last_used_at) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET last_used_at = excluded.last_used_at',
    ),
    selClaim: db.prepare(
      `SELECT seq, message_id, destination, lane, attempts, enqueued_at, content_type, cipher_scope, patient_tokens,
              context, payload, payload_bytes
         FROM queue_items INDEXED BY queue_items_claim
        WHERE destination = ? AND state = 'ready' AND next_attempt_at <= ?
        ORDER BY lane, seq LIMIT ?`,
    ),
    updClaim: db.prepare(`UPDATE queue_items SET state = 'inflight', lease_until = ?, updated_at = ? WHERE seq = ?`),
    updDelivered: db.prepare(
      `UPDATE queue_items SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, updated_at = ?,
              last_status = ?, last_error = NULL, lease_until = NULL, payload = NULL
        WHERE seq = ? AND state = 'inflight'
        RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
    ),
    updRetry: db.prepare(
      `UPDATE queue_items SET state = 'ready', attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
              last_status = ?, updated_at = ?, lease_until = NULL
        WHERE seq = ? AND state = 'inflight'
        RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
    ),
    updDeadCounted: db.prepare(
      `UPDATE queue_items SET state = 'dead', attempts = attempts + 1, last_error = ?, last_status = ?, updated_at = ?,
              lease_until = NULL
        WHERE seq = ? AND state IN ('inflight', 'ready')
        RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
    ),
    updDeadUncounted: db.prepare(
      `UPDATE queue_items SET state = 'dead', last_error = ?, last_status = ?, updated_at = ?, lease_until = NULL
        WHERE seq = ? AND state IN ('inflight', 'ready')
        RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
    ),
    updWithdrawn: db.prepare(
      `UPDATE queue_items SET state = 'withdrawn', last_error = ?, updated_at = ?, lease_until = NULL, payload = NULL
        WHERE seq = ? AND state IN ('inflight', 'ready', 'dead')
        RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
    ),
    updRelease: db.prepare(
      `UPDATE queue_items SET state = 'ready', updated_at = ?, lease_until = NULL WHERE seq = ? AND state = 'inflight'`,
    ),
    updDefer: db.prepare(
      `UPDATE queue_items SET state = 'ready', next_attempt_at = ?, updated_at = ?, lease_until = NULL WHERE seq = ? AND state = 'inflight'`,
    ),
    wake: db.prepare(`UPDATE queue_items SET next_attempt_at = ? WHERE destination = ? AND state = 'ready' AND next_attempt_at > ?`),
    oldestWaiting: db.prepare(
      `SELECT destination, MIN(enqueued_at) AS enqueued_at FROM queue_items WHERE state IN ('ready', 'inflight') GROUP BY destination`,
    ),
    recover: db.prepare(`UPDATE queue_items SET state = 'ready', lease_until = NULL WHERE state = 'inflight'`),
    selMessage: db.prepare('SELECT * FROM queue_messages WHERE id = ?'),
    selItemsOf: db.prepare(
      `SELECT seq, message_id, destination, lane, state, attempts, enqueued_at, next_attempt_at, updated_at, delivered_at,
              last_error, last_status, payload_bytes
         FROM queue_items WHERE message_id = ? ORDER BY seq`,
    ),
    // Grouped in the index's own order (no sort); 'ready' is split into queued/retrying in JS.
    counts: db.prepare(
      `SELECT destination, state, COUNT(*) AS n, SUM(attempts > 0) AS retried_n,
              SUM(CASE WHEN state IN ${HOLDS_PAYLOAD} THEN payload_bytes ELSE 0 END) AS bytes,
              SUM(CASE WHEN attempts > 0 AND state IN ${HOLDS_PAYLOAD} THEN payload_bytes ELSE 0 END) AS retried_bytes
         FROM queue_items INDEXED BY queue_items_claim GROUP BY destination, state`,
    ),
    selWithdrawable: db.prepare(
      `SELECT i.seq AS seq, m.purpose AS purpose, i.message_id AS message_id, i.destination AS destination,
              i.patient_tokens AS patient_tokens, i.context AS context FROM queue_item_patients p
         JOIN queue_items i ON i.seq = p.seq
         JOIN queue_messages m ON m.id = i.message_id
        WHERE p.token = ? AND i.state IN ('ready', 'dead')`,
    ),
    oldTerminal: db.prepare(
      `DELETE FROM queue_items WHERE seq IN (
         SELECT seq FROM queue_items INDEXED BY queue_items_state
          WHERE state IN ('delivered', 'withdrawn', 'purged') AND updated_at < ? LIMIT ?)
       RETURNING message_id`,
    ),
    delMessageIfEmpty: db.prepare(
      'DELETE FROM queue_messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue_items WHERE message_id = ?)',
    ),
    delOldItemlessMessages: db.prepare(
      `DELETE FROM queue_messages WHERE id IN (
         SELECT id FROM queue_messages INDEXED BY queue_messages_itemless WHERE queued_items = 0 AND received_at < ? LIMIT ?)`,
    ),
    delOldIdem: db.prepare('DELETE FROM queue_idempotency WHERE created_at < ?'),
    oldScopes: db.prepare('SELECT scope FROM queue_scopes WHERE last_used_at < ?'),
    scopeInUse: db.prepare(`SELECT 1 FROM queue_items WHERE cipher_scope = ? AND state IN ${HOLDS_PAYLOAD} LIMIT 1`),
    delScope: db.prepare('DELETE FROM queue_scopes WHERE scope = ?'),
  };
}
