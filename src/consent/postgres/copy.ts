/**
 * Copies an appliance's consents and patient facts from its SQLite file to PostgreSQL, row for
 * row: the ciphertexts are bound to their rows (id, version, status; token, kind), not to the
 * database, so they read back unchanged once the data keys are copied too
 * (copyDataKeysFromSqlite in the crypto folder). Nothing is decrypted here.
 *
 * Safe to run again: versions, tokens and facts already there are kept (ON CONFLICT DO
 * NOTHING), and a current pointer only moves forward, so a consent changed on PostgreSQL since
 * keeps its newer version. One transaction: all or nothing.
 */
import type pg from 'pg';
import type { Db } from '../../store/index.js';
import { PG_CONSENT_MIGRATIONS, PG_PATIENT_MEMORY_MIGRATIONS, migrateConsentPg } from './schema.js';
import { inTx, loadErrorKit, mapError, type Queryable } from './tx.js';

export interface ConsentCopyCounts {
  versions: number;
  current: number;
  tokens: number;
  facts: number;
}

const BATCH = 1_000;

function hasTable(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** Pages of a SQLite query (its text ends in "LIMIT ? OFFSET ?"), so no statement stays open across an await. */
async function batches<R>(db: Db, sql: string, each: (rows: R[]) => Promise<number>): Promise<number> {
  const page = db.prepare(`${sql} LIMIT ? OFFSET ?`);
  let n = 0;
  for (let offset = 0; ; offset += BATCH) {
    const rows = page.all(BATCH, offset) as R[];
    if (rows.length) n += await each(rows);
    if (rows.length < BATCH) return n;
  }
}

interface V {
  id: string;
  version: number;
  status: string;
  received_at: string;
  reason: string | null;
  encrypted: number;
  resource: Buffer;
}
interface C {
  id: string;
  version: number;
  status: string;
  received_at: string;
}
interface M {
  token: string;
  kind: string;
  encrypted: number;
  value: Buffer;
  updated_at: string;
}

export async function copyConsentsFromSqlite(db: Db, pool: pg.Pool): Promise<ConsentCopyCounts> {
  const kit = await loadErrorKit();
  try {
    await migrateConsentPg(pool, 'consent', PG_CONSENT_MIGRATIONS);
    await migrateConsentPg(pool, 'patient-memory', PG_PATIENT_MEMORY_MIGRATIONS);
  } catch (err) {
    throw mapError(kit, err);
  }
  const counts: ConsentCopyCounts = { versions: 0, current: 0, tokens: 0, facts: 0 };
  const n = async (q: Queryable, sql: string, params: unknown[]) => (await q.query(sql, params)).rowCount ?? 0;
  await inTx(pool, kit, async (q) => {
    if (hasTable(db, 'consent_version')) {
      counts.versions = await batches<V>(db, 'SELECT id, version, status, received_at, reason, encrypted, resource FROM consent_version ORDER BY id, version', (rows) =>
        n(
          q,
          `INSERT INTO consent_version (id, version, status, received_at, reason, encrypted, resource)
           SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::bytea[])
           ON CONFLICT (id, version) DO NOTHING`,
          [rows.map((r) => r.id), rows.map((r) => r.version), rows.map((r) => r.status), rows.map((r) => r.received_at), rows.map((r) => r.reason), rows.map((r) => r.encrypted), rows.map((r) => r.resource)],
        ),
      );
      counts.current = await batches<C>(db, 'SELECT id, version, status, received_at FROM consent_current ORDER BY id', (rows) =>
        n(
          q,
          `INSERT INTO consent_current (id, version, status, received_at)
           SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[])
           ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status, received_at = excluded.received_at
           WHERE consent_current.version < excluded.version`,
          [rows.map((r) => r.id), rows.map((r) => r.version), rows.map((r) => r.status), rows.map((r) => r.received_at)],
        ),
      );
      counts.tokens = await batches<{ token: string; id: string }>(db, 'SELECT token, id FROM consent_token ORDER BY token, id', (rows) =>
        n(q, 'INSERT INTO consent_token (token, id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING', [rows.map((r) => r.token), rows.map((r) => r.id)]),
      );
    }
    if (hasTable(db, 'patient_memory')) {
      counts.facts = await batches<M>(db, 'SELECT token, kind, encrypted, value, updated_at FROM patient_memory ORDER BY token, kind', (rows) =>
        n(
          q,
          `INSERT INTO patient_memory (token, kind, encrypted, value, updated_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::bytea[], $5::text[])
           ON CONFLICT (token, kind) DO NOTHING`,
          [rows.map((r) => r.token), rows.map((r) => r.kind), rows.map((r) => r.encrypted), rows.map((r) => r.value), rows.map((r) => r.updated_at)],
        ),
      );
    }
  });
  return counts;
}
