/**
 * The audit log's tables on PostgreSQL: the same as SQLite's (src/audit/schema.ts) plus the
 * node that wrote each entry and each head. Forward-only migrations recorded in
 * darwaza_schema under scope 'audit', applied in one transaction under the same advisory
 * lock as the queue's, so nodes (and both stores) starting together migrate once.
 *
 * Triggers refuse UPDATE and DELETE on the log tables: append-only by construction (a guard
 * against bugs; a superuser can disable them, which the Merkle tree and signed heads reveal).
 */
import type pg from 'pg';
import { migratePg, type PgMigration } from '../../store/index.js';

export type PgAuditMigration = PgMigration;

const appendOnly = (table: string) => `
  CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
    FOR EACH ROW EXECUTE FUNCTION darwaza_audit_append_only();`;

export const PG_AUDIT_MIGRATIONS: readonly PgAuditMigration[] = [
  {
    version: 1,
    description: 'audit log: entries with their node, Merkle subtree hashes, signed tree heads, signing keys',
    sql: `
      CREATE TABLE audit_entries (
        idx BIGINT PRIMARY KEY CHECK (idx >= 0),
        time TEXT NOT NULL,
        event TEXT NOT NULL,
        message_id TEXT,
        patient_token TEXT,
        destination TEXT,
        node TEXT NOT NULL,
        entry TEXT NOT NULL
      );
      CREATE INDEX audit_entries_message ON audit_entries (message_id) WHERE message_id IS NOT NULL;
      CREATE INDEX audit_entries_patient ON audit_entries (patient_token) WHERE patient_token IS NOT NULL;
      CREATE INDEX audit_entries_time ON audit_entries (time);
      CREATE TABLE audit_nodes (
        level SMALLINT NOT NULL,
        idx BIGINT NOT NULL,
        hash BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
      );
      CREATE TABLE audit_tree_heads (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tree_size BIGINT NOT NULL,
        timestamp BIGINT NOT NULL,
        root_hash TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL,
        node TEXT NOT NULL
      );
      CREATE INDEX audit_tree_heads_size ON audit_tree_heads (tree_size, timestamp);
      CREATE TABLE audit_keys (
        key_id TEXT PRIMARY KEY,
        public_key BYTEA NOT NULL,
        first_used TEXT NOT NULL
      );
      CREATE FUNCTION darwaza_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
      ${appendOnly('audit_entries')}
      ${appendOnly('audit_nodes')}
      ${appendOnly('audit_tree_heads')}
      ${appendOnly('audit_keys')}
    `,
  },
  {
    version: 2,
    description: 'audit log: earlier logs this one continues (an appliance\'s SQLite log, closed and kept whole, in its export format)',
    sql: `
      CREATE TABLE audit_prior_segments (
        seq INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        tree_size BIGINT NOT NULL,
        root_hash TEXT NOT NULL,
        key_id TEXT NOT NULL,
        stored_at TEXT NOT NULL
      );
      CREATE TABLE audit_prior_segment_files (
        seq INTEGER NOT NULL REFERENCES audit_prior_segments(seq),
        name TEXT NOT NULL,
        content BYTEA NOT NULL,
        PRIMARY KEY (seq, name)
      );
      ${appendOnly('audit_prior_segments')}
      ${appendOnly('audit_prior_segment_files')}
    `,
  },
];

/** Applies what is missing of scope `audit` (under the migration lock every darwaza scope takes); returns the version. */
export function migrateAuditPg(client: pg.PoolClient): Promise<number> {
  return migratePg(client, 'audit', PG_AUDIT_MIGRATIONS);
}
