/**
 * audit_* tables in the gateway's one SQLite file.
 *
 * - audit_entries: one row per leaf; `entry` holds the exact canonical JSON that was
 *   hashed. A few columns are copied out of it for lookups (message id, patient token,
 *   destination, time); the JSON stays the only source of truth for verification.
 * - audit_nodes: complete-subtree hashes keyed by (level, index): level 0 are leaf
 *   hashes, level L index i covers leaves [i·2^L, (i+1)·2^L). Appended as leaves arrive
 *   (O(log n) per append, one more row per leaf on average), so proofs never rebuild.
 * - audit_tree_heads, audit_keys: signed heads and the public keys that signed them.
 * - audit_atna_cursor: how far each ATNA feed has sent (the log itself is the spool).
 *
 * Triggers refuse UPDATE and DELETE on the log tables: append-only by construction
 * (a guard against bugs; an attacker with the file can drop them, which the Merkle
 * tree and signed heads then reveal).
 */
import { migrate, type Db, type Migration } from '../store/index.js';

const appendOnly = (table: string) => `
  CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
    BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
  CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
    BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;`;

export const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'audit log: entries, Merkle subtree hashes, signed tree heads, signing keys, ATNA cursor',
    up: (db) => {
      db.exec(`
        CREATE TABLE audit_entries (
          idx INTEGER PRIMARY KEY,
          time TEXT NOT NULL,
          event TEXT NOT NULL,
          message_id TEXT,
          patient_token TEXT,
          destination TEXT,
          entry TEXT NOT NULL
        ) STRICT;
        CREATE INDEX audit_entries_message ON audit_entries (message_id) WHERE message_id IS NOT NULL;
        CREATE INDEX audit_entries_patient ON audit_entries (patient_token) WHERE patient_token IS NOT NULL;
        CREATE INDEX audit_entries_time ON audit_entries (time);
        CREATE TABLE audit_nodes (
          level INTEGER NOT NULL,
          idx INTEGER NOT NULL,
          hash BLOB NOT NULL,
          PRIMARY KEY (level, idx)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE audit_tree_heads (
          id INTEGER PRIMARY KEY,
          tree_size INTEGER NOT NULL,
          timestamp INTEGER NOT NULL,
          root_hash TEXT NOT NULL,
          key_id TEXT NOT NULL,
          signature TEXT NOT NULL
        ) STRICT;
        CREATE INDEX audit_tree_heads_size ON audit_tree_heads (tree_size, timestamp);
        CREATE TABLE audit_keys (
          key_id TEXT PRIMARY KEY,
          public_key BLOB NOT NULL,
          first_used TEXT NOT NULL
        ) STRICT;
        CREATE TABLE audit_atna_cursor (
          feed TEXT PRIMARY KEY,
          next_index INTEGER NOT NULL,
          updated_at TEXT NOT NULL
        ) STRICT;
        ${appendOnly('audit_entries')}
        ${appendOnly('audit_nodes')}
        ${appendOnly('audit_tree_heads')}
        ${appendOnly('audit_keys')}
      `);
    },
  },
];

export function migrateAudit(db: Db): void {
  migrate(db, 'audit', AUDIT_MIGRATIONS);
}
