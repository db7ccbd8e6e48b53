/**
 * The consent registry's and the patient facts' tables on PostgreSQL: the same columns as
 * SQLite's (../schema.ts, ../memory.ts). Resources and remembered values are at-rest
 * ciphertexts bound to their rows; the clear columns hold ids, versions, statuses, times and
 * patient tokens (keyed hashes), never an identifier or a birth date.
 * Forward-only migrations recorded in darwaza_schema (scopes 'consent' and 'patient-memory'),
 * applied with the queue's migrator under its advisory lock, so nodes starting together
 * migrate once.
 */
import type pg from 'pg';
import { migratePgPool, type PgMigration } from '../../store/index.js';

export type PgConsentMigration = PgMigration;

export const PG_CONSENT_MIGRATIONS: readonly PgConsentMigration[] = [
  {
    version: 1,
    description: 'consent registry: versions, current pointer, patient-token index',
    sql: `
      CREATE TABLE consent_version (
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        received_at TEXT NOT NULL,
        reason TEXT,
        encrypted SMALLINT NOT NULL,
        resource BYTEA NOT NULL,
        PRIMARY KEY (id, version)
      );
      CREATE TABLE consent_current (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        received_at TEXT NOT NULL
      );
      CREATE INDEX consent_current_received ON consent_current (received_at, id);
      CREATE TABLE consent_token (
        token TEXT NOT NULL,
        id TEXT NOT NULL,
        PRIMARY KEY (token, id)
      );
      CREATE INDEX consent_token_by_id ON consent_token (id);
    `,
  },
];

export const PG_PATIENT_MEMORY_MIGRATIONS: readonly PgConsentMigration[] = [
  {
    version: 1,
    description: 'patient memory: birth date and weak-id binding per patient token (values encrypted)',
    sql: `
      CREATE TABLE patient_memory (
        token TEXT NOT NULL,
        kind TEXT NOT NULL,
        encrypted SMALLINT NOT NULL,
        value BYTEA NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (token, kind)
      );
      CREATE INDEX patient_memory_bindings ON patient_memory (kind) WHERE kind = 'boundTo';
    `,
  },
];

/** Applies what is missing of one scope (under the migration lock every darwaza scope takes); returns the version. */
export function migrateConsentPg(pool: pg.Pool, scope: 'consent' | 'patient-memory', migrations: readonly PgConsentMigration[]): Promise<number> {
  return migratePgPool(pool, scope, migrations);
}
