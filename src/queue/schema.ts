/**
 * The queue's tables in the gateway's one SQLite file. Forward-only migrations.
 *
 * Costs we rely on (each O(log n) whatever the backlog):
 * - enqueue: one insert into queue_messages (PK id), one per destination into
 *   queue_items (rowid seq appended at the end; indexes below), one per patient token.
 * - claim: queue_items_claim walks (destination, state='ready') in (lane, seq) order
 *   (lane 0 emergency, 1 treatment, 2 public health, 3 research/bulk, since version 4);
 *   next_attempt_at sits in the same index so rows still in backoff are skipped
 *   without reading the table. attempts and payload_bytes are in that index too, so
 *   counts() and the quota's byte total are index-only scans (no payload pages read).
 */
import type { Migration } from '../store/index.js';

export const QUEUE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'queue: messages, per-destination items with lanes, patient index, idempotency keys, cipher scopes',
    up: (db) => {
      db.exec(`
        CREATE TABLE queue_messages (
          id TEXT PRIMARY KEY,
          received_at TEXT NOT NULL,
          source TEXT NOT NULL,
          purpose TEXT NOT NULL,
          format TEXT NOT NULL,
          outcomes TEXT NOT NULL,
          idempotency_key TEXT
        ) STRICT;
        CREATE INDEX queue_messages_received ON queue_messages (received_at);

        CREATE TABLE queue_items (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          message_id TEXT NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
          destination TEXT NOT NULL,
          lane INTEGER NOT NULL CHECK (lane IN (0, 1)),
          state TEXT NOT NULL CHECK (state IN ('ready', 'inflight', 'delivered', 'dead', 'withdrawn', 'purged')),
          attempts INTEGER NOT NULL DEFAULT 0,
          enqueued_at INTEGER NOT NULL,
          next_attempt_at INTEGER NOT NULL,
          lease_until INTEGER,
          updated_at INTEGER NOT NULL,
          delivered_at INTEGER,
          last_error TEXT,
          last_status INTEGER,
          content_type TEXT NOT NULL,
          cipher_scope TEXT NOT NULL,
          patient_tokens TEXT NOT NULL,
          context TEXT NOT NULL,
          payload BLOB,
          payload_bytes INTEGER NOT NULL,
          UNIQUE (message_id, destination)
        ) STRICT;

        CREATE INDEX queue_items_claim
          ON queue_items (destination, state, lane, seq, next_attempt_at, attempts, payload_bytes);
        CREATE INDEX queue_items_state ON queue_items (state, updated_at);
        CREATE INDEX queue_items_scope ON queue_items (cipher_scope, state);

        CREATE TABLE queue_item_patients (
          token TEXT NOT NULL,
          seq INTEGER NOT NULL REFERENCES queue_items(seq) ON DELETE CASCADE,
          PRIMARY KEY (token, seq)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX queue_item_patients_seq ON queue_item_patients (seq);

        CREATE TABLE queue_idempotency (
          key TEXT PRIMARY KEY,
          message_id TEXT NOT NULL,
          response TEXT NOT NULL,
          created_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX queue_idempotency_created ON queue_idempotency (created_at);

        CREATE TABLE queue_scopes (
          scope TEXT PRIMARY KEY,
          last_used_at INTEGER NOT NULL
        ) STRICT;
      `);
    },
  },
  {
    version: 2,
    description: 'queue: count of queued rows per message, so retention sweeps only fully denied messages (partial index)',
    up: (db) => {
      db.exec(`
        ALTER TABLE queue_messages ADD COLUMN queued_items INTEGER NOT NULL DEFAULT 0;
        UPDATE queue_messages SET queued_items = (SELECT COUNT(*) FROM queue_items WHERE message_id = queue_messages.id);
        DROP INDEX queue_messages_received;
        -- Only messages with no queue row at all (every destination denied) need a time sweep;
        -- the others go when their last row does.
        CREATE INDEX queue_messages_itemless ON queue_messages (received_at) WHERE queued_items = 0;
      `);
    },
  },
  {
    version: 3,
    description: 'queue: the SHA-256 of the request an idempotency key was first used with (a reuse with another body is refused)',
    up: (db) => {
      db.exec(`ALTER TABLE queue_idempotency ADD COLUMN request_sha256 TEXT;`);
    },
  },
  {
    version: 4,
    description: 'queue: four link lanes (0 emergency, 1 treatment, 2 public health, 3 research/bulk) so claims follow strict priority across the whole backlog',
    up: (db) => {
      // SQLite cannot change a CHECK constraint in place: the table is rebuilt. Dropping the old one
      // cascades into queue_item_patients, so that index is kept aside and put back.
      // A normal row's lane is recomputed from the stored purpose: the row's context first (what the
      // dispatcher reads), else its message's; the purpose lists are those of src/queue/lanes.ts
      // when this version was written (a migration does not follow later edits).
      db.exec(`
        CREATE TEMP TABLE queue_item_patients_keep AS SELECT token, seq FROM queue_item_patients;
        CREATE TABLE queue_items_v4 (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          message_id TEXT NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
          destination TEXT NOT NULL,
          lane INTEGER NOT NULL CHECK (lane BETWEEN 0 AND 3),
          state TEXT NOT NULL CHECK (state IN ('ready', 'inflight', 'delivered', 'dead', 'withdrawn', 'purged')),
          attempts INTEGER NOT NULL DEFAULT 0,
          enqueued_at INTEGER NOT NULL,
          next_attempt_at INTEGER NOT NULL,
          lease_until INTEGER,
          updated_at INTEGER NOT NULL,
          delivered_at INTEGER,
          last_error TEXT,
          last_status INTEGER,
          content_type TEXT NOT NULL,
          cipher_scope TEXT NOT NULL,
          patient_tokens TEXT NOT NULL,
          context TEXT NOT NULL,
          payload BLOB,
          payload_bytes INTEGER NOT NULL,
          UNIQUE (message_id, destination)
        ) STRICT;
        INSERT INTO queue_items_v4
          SELECT i.seq, i.message_id, i.destination,
            CASE
              WHEN i.lane = 0 THEN 0
              ELSE CASE COALESCE(CASE WHEN json_valid(i.context) THEN json_extract(i.context, '$.purpose') END, m.purpose, 'TREAT')
                WHEN 'PUBHLTH' THEN 2 WHEN 'POPHLTH' THEN 2
                WHEN 'TREAT' THEN 1 WHEN 'CAREMGT' THEN 1 WHEN 'COC' THEN 1 WHEN 'PATRQT' THEN 1 WHEN 'FAMRQT' THEN 1
                -- a normal row is never promoted: an emergency purpose there stays treatment
                WHEN 'ETREAT' THEN 1 WHEN 'BTG' THEN 1
                ELSE 3
              END
            END,
            i.state, i.attempts, i.enqueued_at, i.next_attempt_at, i.lease_until, i.updated_at, i.delivered_at,
            i.last_error, i.last_status, i.content_type, i.cipher_scope, i.patient_tokens, i.context, i.payload, i.payload_bytes
          FROM queue_items i LEFT JOIN queue_messages m ON m.id = i.message_id;
        DROP TABLE queue_items;
        ALTER TABLE queue_items_v4 RENAME TO queue_items;
        CREATE INDEX queue_items_claim
          ON queue_items (destination, state, lane, seq, next_attempt_at, attempts, payload_bytes);
        CREATE INDEX queue_items_state ON queue_items (state, updated_at);
        CREATE INDEX queue_items_scope ON queue_items (cipher_scope, state);
        INSERT OR IGNORE INTO queue_item_patients (token, seq) SELECT token, seq FROM queue_item_patients_keep;
        DROP TABLE queue_item_patients_keep;
      `);
    },
  },
];
