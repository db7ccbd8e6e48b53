/**
 * Copies an appliance's queue from its SQLite file to PostgreSQL, row for row and nothing
 * decrypted: a payload is sealed under its day's data key and bound to (message id,
 * destination), not to the database, so it opens on PostgreSQL once the data keys are copied
 * too (copyDataKeys). Row numbers (seq) are kept, so claim order and the patient index hold;
 * rows that were being delivered when the appliance stopped are ready to send again (the
 * receiver de-duplicates). One transaction, into an empty queue: all or nothing. Run again on
 * the queue it filled, it changes nothing (every row is already there).
 */
import type pg from 'pg';
import type { Db } from '../../store/index.js';
import { chunks, valuesList } from '../../store/index.js';
import { PG_QUEUE_MIGRATIONS, migratePg } from './schema.js';

export interface QueueCopyCounts {
  messages: number;
  items: number;
  patients: number;
  idempotency: number;
  scopes: number;
}

const PAGE = 1_000;

/** Pages of a SQLite query, so no statement stays open across an await. */
function* pages<R>(db: Db, sql: string): Generator<R[]> {
  const page = db.prepare(`${sql} LIMIT ? OFFSET ?`);
  for (let offset = 0; ; offset += PAGE) {
    const rows = page.all(PAGE, offset) as R[];
    if (rows.length) yield rows;
    if (rows.length < PAGE) return;
  }
}

interface Table {
  name: string;
  columns: string[];
  /** Casts of the VALUES cells (bytea payloads, bigint times). */
  casts?: (string | undefined)[];
  order: string;
  key: string;
  /** The row as PostgreSQL takes it. */
  map?: (r: Record<string, unknown>) => unknown[];
}

const ITEM_COLUMNS = ['seq', 'message_id', 'destination', 'lane', 'state', 'attempts', 'enqueued_at', 'next_attempt_at', 'lease_until', 'updated_at', 'delivered_at', 'last_error', 'last_status', 'content_type', 'cipher_scope', 'patient_tokens', 'context', 'payload', 'payload_bytes'];

const TABLES: Table[] = [
  { name: 'queue_messages', columns: ['id', 'received_at', 'source', 'purpose', 'format', 'outcomes', 'idempotency_key', 'queued_items'], order: 'id', key: '(id)' },
  {
    name: 'queue_items',
    columns: ITEM_COLUMNS,
    casts: ['bigint', 'text', 'text', 'smallint', 'text', 'integer', 'bigint', 'bigint', 'bigint', 'bigint', 'bigint', 'text', 'integer', 'text', 'text', 'text', 'text', 'bytea', 'integer'],
    order: 'seq',
    key: '(seq)',
    // A row in flight when the appliance stopped is ready again: its lease named a process that is gone.
    map: (r) => ITEM_COLUMNS.map((c) => (c === 'state' && r.state === 'inflight' ? 'ready' : c === 'lease_until' ? null : r[c])),
  },
  { name: 'queue_item_patients', columns: ['token', 'seq'], casts: ['text', 'bigint'], order: 'seq, token', key: '(token, seq)' },
  { name: 'queue_idempotency', columns: ['key', 'message_id', 'response', 'created_at', 'request_sha256'], casts: [undefined, undefined, undefined, 'bigint'], order: 'key', key: '(key)' },
  { name: 'queue_scopes', columns: ['scope', 'last_used_at'], casts: [undefined, 'bigint'], order: 'scope', key: '(scope)' },
];

export class QueueCopyError extends Error {
  override name = 'QueueCopyError';
}

export async function copyQueueFromSqlite(db: Db, pool: pg.Pool): Promise<QueueCopyCounts> {
  const client = await pool.connect();
  try {
    await migratePg(client, 'queue', PG_QUEUE_MIGRATIONS);
    await client.query('BEGIN');
    const counts: Record<string, number> = {};
    const sourceItems = (db.prepare('SELECT count(*) AS n, max(seq) AS last FROM queue_items').get() as { n: number; last: number | null });
    const target = (await client.query<{ n: string }>('SELECT count(*) AS n FROM queue_items')).rows[0]!;
    const already = Number(target.n);
    if (already > 0 && already !== sourceItems.n) {
      throw new QueueCopyError(`the PostgreSQL queue already holds ${already} rows that are not this appliance's: a queue is moved into an empty one`);
    }
    for (const t of TABLES) {
      let n = 0;
      for (const rows of pages<Record<string, unknown>>(db, `SELECT ${t.columns.join(', ')} FROM ${t.name} ORDER BY ${t.order}`)) {
        for (const part of chunks(rows, Math.floor(60_000 / t.columns.length))) {
          const params = part.flatMap((r) => (t.map ? t.map(r) : t.columns.map((c) => r[c])));
          const overriding = t.name === 'queue_items' ? ' OVERRIDING SYSTEM VALUE' : '';
          const r = await client.query(`INSERT INTO ${t.name} (${t.columns.join(', ')})${overriding} VALUES ${valuesList(part.length, t.columns.length, t.casts ?? [])} ON CONFLICT ${t.key} DO NOTHING`, params);
          n += r.rowCount ?? 0;
        }
      }
      counts[t.name] = n;
    }
    // New rows continue after the copied ones.
    if (sourceItems.last !== null) await client.query(`SELECT setval(pg_get_serial_sequence('queue_items', 'seq'), GREATEST($1::bigint, (SELECT max(seq) FROM queue_items)))`, [sourceItems.last]);
    await client.query('COMMIT');
    return { messages: counts.queue_messages!, items: counts.queue_items!, patients: counts.queue_item_patients!, idempotency: counts.queue_idempotency!, scopes: counts.queue_scopes! };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
