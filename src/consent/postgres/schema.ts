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

export interface PgConsentMigration {
  version: number;
  description: string;
  sql: string;
}

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

/** The migration lock every darwaza scope on PostgreSQL takes (the queue's, src/queue/postgres/schema.ts). */
const MIGRATION_LOCK = 0x64_61_72_77;

/** Applies what is missing of one scope, in one transaction, under the migration lock; returns the version. */
export async function migrateConsentPg(pool: pg.Pool, scope: 'consent' | 'patient-memory', migrations: readonly PgConsentMigration[]): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS darwaza_schema (scope TEXT PRIMARY KEY, version INTEGER NOT NULL)');
      const r = await client.query<{ version: number }>('SELECT version FROM darwaza_schema WHERE scope = $1', [scope]);
      let version = r.rows[0]?.version ?? 0;
      for (const m of migrations) {
        if (m.version <= version) continue;
        await client.query(m.sql);
        version = m.version;
      }
      await client.query(
        'INSERT INTO darwaza_schema (scope, version) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET version = excluded.version',
        [scope, version],
      );
      await client.query('COMMIT');
      return version;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    client.release();
  }
}
