/**
 * The queue's tables on PostgreSQL: the same columns as SQLite's (src/queue/schema.ts), plus
 * the lease's owner. Lanes are 0..3 (emergency, treatment, public health, research), claimed
 * in (lane, seq) order. Forward-only migrations, applied under an advisory lock so that
 * nodes starting together migrate once.
 */
import type { PgMigration } from '../../store/index.js';

export { migratePg, type PgMigration } from '../../store/index.js';

export const PG_QUEUE_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description: 'queue: messages, per-destination items with lanes and leases, patient index, idempotency keys, cipher scopes',
    sql: `
      CREATE TABLE queue_messages (
        id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL,
        source TEXT NOT NULL,
        purpose TEXT NOT NULL,
        format TEXT NOT NULL,
        outcomes TEXT NOT NULL,
        idempotency_key TEXT,
        queued_items INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX queue_messages_itemless ON queue_messages (received_at) WHERE queued_items = 0;

      CREATE TABLE queue_items (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id TEXT NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
        destination TEXT NOT NULL,
        lane SMALLINT NOT NULL CHECK (lane BETWEEN 0 AND 3),
        state TEXT NOT NULL CHECK (state IN ('ready', 'inflight', 'delivered', 'dead', 'withdrawn', 'purged')),
        attempts INTEGER NOT NULL DEFAULT 0,
        enqueued_at BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        updated_at BIGINT NOT NULL,
        delivered_at BIGINT,
        last_error TEXT,
        last_status INTEGER,
        content_type TEXT NOT NULL,
        cipher_scope TEXT NOT NULL,
        patient_tokens TEXT NOT NULL,
        context TEXT NOT NULL,
        payload BYTEA,
        payload_bytes INTEGER NOT NULL,
        UNIQUE (message_id, destination)
      );
      CREATE INDEX queue_items_claim ON queue_items (destination, lane, seq) WHERE state = 'ready';
      CREATE INDEX queue_items_state ON queue_items (state, updated_at);
      CREATE INDEX queue_items_scope ON queue_items (cipher_scope, state);
      CREATE INDEX queue_items_leases ON queue_items (lease_until) WHERE state = 'inflight';

      CREATE TABLE queue_item_patients (
        token TEXT NOT NULL,
        seq BIGINT NOT NULL REFERENCES queue_items(seq) ON DELETE CASCADE,
        PRIMARY KEY (token, seq)
      );
      CREATE INDEX queue_item_patients_seq ON queue_item_patients (seq);

      CREATE TABLE queue_idempotency (
        key TEXT PRIMARY KEY,
        message_id TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        request_sha256 TEXT
      );
      CREATE INDEX queue_idempotency_created ON queue_idempotency (created_at);

      CREATE TABLE queue_scopes (
        scope TEXT PRIMARY KEY,
        last_used_at BIGINT NOT NULL
      );
    `,
  },
];

