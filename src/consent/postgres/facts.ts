/**
 * The patient facts on PostgreSQL, behind the async PatientFacts port: the same rows as the
 * SQLite PatientMemory (../memory.ts): a birth date and a weak-id binding per patient token,
 * each value sealed by the at-rest cipher under scope "patient-memory", bound to its
 * (token, kind). PostgreSQL sees tokens, kinds, times and ciphertext, never a birth date.
 *
 * Unlike the SQLite memory, nothing is cached and nothing is batched: another node may have
 * bound a weak id or erased a patient since, so every read asks the database, and every write
 * is committed before the promise resolves. The first binding of a weak id stays across
 * nodes too: it is inserted with ON CONFLICT DO NOTHING, so two nodes racing to bind it keep
 * whichever committed first.
 */
import type pg from 'pg';
import type { PayloadCipher } from '../../model/index.js';
import { patientMemoryAad } from '../../crypto/index.js';
import { MEMORY_CIPHER_SCOPE } from '../memory.js';
import type { PatientFacts } from '../ports.js';
import { PG_PATIENT_MEMORY_MIGRATIONS, migrateConsentPg } from './schema.js';
import { inTx, loadErrorKit, mapError, query, type PgErrorKit, type PreparableCipher } from './tx.js';

export interface PostgresPatientFactsOptions {
  /** Seals every value (scope "patient-memory"). Required: birth dates are PHI. */
  cipher: PayloadCipher & PreparableCipher;
  clock?: () => Date;
  /** Create or upgrade the table (default true). */
  migrate?: boolean;
}

type Kind = 'birthDate' | 'boundTo';
const BIRTH_DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;

interface Row {
  token: string;
  encrypted: number;
  value: Buffer;
}

export async function postgresPatientFacts(pool: pg.Pool, opts: PostgresPatientFactsOptions): Promise<PatientFacts> {
  if (!opts.cipher) throw new Error('patient facts: a cipher is required (birth dates are never stored in clear)');
  const kit = await loadErrorKit();
  if (opts.migrate !== false) {
    try {
      await migrateConsentPg(pool, 'patient-memory', PG_PATIENT_MEMORY_MIGRATIONS);
    } catch (err) {
      throw mapError(kit, err);
    }
  }
  return new PgPatientFacts(pool, opts, kit);
}

class PgPatientFacts implements PatientFacts {
  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: PostgresPatientFactsOptions,
    private readonly kit: PgErrorKit,
  ) {}

  /** The birth date remembered under the first of these tokens that has one. */
  async birthDate(tokens: readonly string[]): Promise<string | undefined> {
    const found = await this.readMany(tokens, 'birthDate');
    for (const t of tokens) {
      const v = found.get(t);
      if (v) return v;
    }
    return undefined;
  }

  /** Remembers a birth date under every token of the patient (the latest seen wins); unchanged rows are not rewritten. */
  async rememberBirthDate(tokens: readonly string[], birthDate: string): Promise<void> {
    if (!BIRTH_DATE.test(birthDate) || !tokens.length) return;
    const known = await this.readMany(tokens, 'birthDate');
    const changed = [...new Set(tokens)].filter((t) => known.get(t) !== birthDate);
    if (!changed.length) return;
    await this.ready();
    const now = this.now();
    const values = changed.map((t) => Buffer.from(this.seal(t, 'birthDate', birthDate)));
    await inTx(this.pool, this.kit, async (q) => {
      await q.query(
        `INSERT INTO patient_memory (token, kind, encrypted, value, updated_at)
         SELECT t, 'birthDate', 1, v, $3 FROM unnest($1::text[], $2::bytea[]) AS x(t, v)
         ON CONFLICT (token, kind) DO UPDATE SET encrypted = excluded.encrypted, value = excluded.value, updated_at = excluded.updated_at`,
        [changed, values, now],
      );
    });
  }

  /** The strong tokens a weak (source-namespaced) token was first seen with. */
  async boundTo(weakToken: string): Promise<string[] | undefined> {
    const v = (await this.readMany([weakToken], 'boundTo')).get(weakToken);
    return v === undefined ? undefined : parseBinding(v);
  }

  /**
   * Binds a weak token to the strong tokens of one patient, unless it is bound already (the first
   * binding stays, on any node). Returns the binding in force afterwards: another node's, if it won.
   */
  async bind(weakToken: string, strongTokens: readonly string[]): Promise<string[] | undefined> {
    if (!strongTokens.length) return this.boundTo(weakToken);
    await this.ready();
    const blob = this.seal(weakToken, 'boundTo', JSON.stringify(strongTokens));
    const r = await query(
      this.pool,
      this.kit,
      `INSERT INTO patient_memory (token, kind, encrypted, value, updated_at) VALUES ($1, 'boundTo', 1, $2::bytea, $3)
       ON CONFLICT (token, kind) DO NOTHING RETURNING token`,
      [weakToken, Buffer.from(blob), this.now()],
    );
    return r.length ? [...strongTokens] : this.boundTo(weakToken);
  }

  /**
   * A patient's erasure: every fact remembered under these tokens, and every weak id bound to
   * them, is deleted in one transaction. The bindings' values are sealed, so each is read to
   * find the ones to this patient (as on SQLite). Returns how many rows went.
   */
  async forget(tokens: readonly string[]): Promise<number> {
    await this.ready();
    const mine = new Set(tokens);
    return inTx(this.pool, this.kit, async (q) => {
      const rows = (await q.query<Row>("SELECT token, encrypted, value FROM patient_memory WHERE kind = 'boundTo'")).rows;
      const bound = rows.filter((r) => (parseBinding(this.open(r, 'boundTo') ?? '') ?? []).some((t) => mine.has(t))).map((r) => r.token);
      const all = [...new Set([...mine, ...bound])];
      if (!all.length) return 0;
      return (await q.query('DELETE FROM patient_memory WHERE token = ANY($1::text[])', [all])).rowCount ?? 0;
    });
  }

  private async readMany(tokens: readonly string[], kind: Kind): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!tokens.length) return out;
    await this.ready();
    const rows = await query<Row>(this.pool, this.kit, 'SELECT token, encrypted, value FROM patient_memory WHERE kind = $2 AND token = ANY($1::text[])', [
      [...new Set(tokens)],
      kind,
    ]);
    for (const r of rows) {
      const v = this.open(r, kind);
      if (v !== undefined) out.set(r.token, v);
    }
    return out;
  }

  /** There is no clear read path: a row not sealed, altered, or keyless reads as unknown (the stricter reading). */
  private open(row: Row, kind: Kind): string | undefined {
    if (Number(row.encrypted) !== 1) return undefined;
    try {
      return Buffer.from(this.opts.cipher.decrypt(new Uint8Array(row.value), MEMORY_CIPHER_SCOPE, patientMemoryAad(row.token, kind))).toString('utf8');
    } catch {
      return undefined;
    }
  }

  private seal(token: string, kind: Kind, value: string): Uint8Array {
    return this.opts.cipher.encrypt(Buffer.from(value, 'utf8'), MEMORY_CIPHER_SCOPE, patientMemoryAad(token, kind));
  }

  private async ready(): Promise<void> {
    // A key table on the database (the key-table cipher) may need to make or fetch the scope's key first.
    if (!this.opts.cipher.prepare) return;
    try {
      await this.opts.cipher.prepare([MEMORY_CIPHER_SCOPE]);
    } catch (err) {
      throw mapError(this.kit, err);
    }
  }

  private now(): string {
    return (this.opts.clock?.() ?? new Date()).toISOString();
  }
}

function parseBinding(v: string): string[] | undefined {
  try {
    const list = JSON.parse(v) as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : undefined;
  } catch {
    return undefined;
  }
}
