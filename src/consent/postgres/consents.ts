// Longer than most files here, like the SQLite registry it mirrors: writes, reads and the integrity
// checks share the caches and the transaction helpers, and split apart they would share state.
/**
 * The consent registry on PostgreSQL, behind the async ConsentStore port: the same rows,
 * ciphertexts, versions, withdrawals, source namespacing, integrity checks and audit events
 * as the SQLite ConsentRegistry (../registry.ts), for gateways sharing one database.
 *
 * Every resource is sealed by the at-rest cipher under scope "consent", bound to its row's
 * (id, version, status): PostgreSQL sees only ciphertext, patient tokens and PHI-free columns.
 * On read the clear columns are checked against the decrypted content, as on SQLite: a
 * current pointer that does not name the latest version, a status edited in a clear column,
 * a ciphertext moved to another row, or a token row naming another patient's consent is
 * refused, audited, and the consent denies everything.
 *
 * No token → rows cache: every forTokens reads the database, so a withdrawal committed by
 * another node is seen by the next lookup here. Only compiled consents are kept in memory,
 * per (id, version), which never change.
 *
 * Writes of one consent id are serialised across nodes by a transaction-scoped advisory
 * lock on the id, so two nodes never number two versions alike.
 */
import { consentSearchset } from '../searchset.js';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AuditEvent, AuditSink, FhirResource, PayloadCipher } from '../../model/index.js';
import { auditEvents, integrityFailureEvent } from '../../audit/index.js';
import { consentRowAad } from '../../crypto/index.js';
import { compileConsent, ConsentValidationError } from '../compile.js';
import { consentPurposes } from '../evaluate.js';
import { DEFAULT_SOURCE, patientIdStrings, tokensByKind, tokensForIds } from '../ids.js';
import type { PatientFacts, ConsentStore } from '../ports.js';
import {
  CIPHER_SCOPE,
  ConsentNotFoundError,
  ConsentUnreadableError,
  DEFAULT_CACHE_SIZE,
  FHIR_ID,
  openConsentVersion,
  IntegrityError,
  filedBySource,
  sameContent,
  sourceOfStored,
  unreadable,
  type PutManyResult,
  type PutOptions,
  type PutResult,
  type WithdrawInfo,
  type WithdrawListener,
} from '../registry.js';
import { DEFAULT_TIMEZONE, isValidTimezone } from '../time.js';
import { WITHDRAWN_STATUSES, type StoredConsent, type StoredConsentWithResource } from '../types.js';
import { PG_CONSENT_MIGRATIONS, migrateConsentPg } from './schema.js';
import { inTx, loadErrorKit, mapError, query, type PgErrorKit, type PreparableCipher, type Queryable } from './tx.js';

/** The shared audit log (PostgresAuditLog), structurally: appends inside the caller's transaction, or its own. */
export interface ConsentAuditLog {
  append(events: AuditEvent[], tx?: Queryable): Promise<unknown>;
}

export interface PostgresConsentStoreOptions {
  /** Keyed hash of a patient id string (the same key on every node). */
  tokenize: (id: string) => string;
  /** Seals resources under scope "consent", bound to their rows. Required: nothing is stored or read in clear. */
  cipher: PayloadCipher & PreparableCipher;
  clock?: () => Date;
  /** Zone for date-only values in provisions (default Asia/Karachi). */
  timezone?: string;
  /** Compiled consents kept in memory (LRU, per id and version). */
  cacheSize?: number;
  newId?: () => string;
  /** The log shared on this database: each stored version's event is appended inside its transaction. */
  auditLog?: ConsentAuditLog;
  /** Told of each event once its transaction committed (a node's own log, or a test's). */
  audit?: AuditSink;
  /** Where a consent naming both a weak and a strong id records the binding (after the commit). */
  facts?: Pick<PatientFacts, 'bind'>;
  /** Create or upgrade the tables (default true). */
  migrate?: boolean;
}

export interface PostgresConsentStore extends ConsentStore {
  /** Drops the caches and listeners; the pool belongs to the caller. */
  close(): void;
}

/** Class of the per-consent-id write lock (two-key advisory locks, apart from the single-key ones). */
const CONSENT_LOCK = 0x64_61_72_43;

interface CurrentRow {
  id: string;
  version: number;
  status: string;
  received_at: string;
}
interface VersionRow extends CurrentRow {
  reason: string | null;
  encrypted: number;
  resource: Buffer;
}
/** A token hit: the current pointer, the latest stored version number, and the pointed-at version. */
interface LookupRow extends CurrentRow {
  token: string;
  max_version: number | null;
  version_status: string | null;
  encrypted: number | null;
  resource: Buffer | null;
  reason: string | null;
}


const enc = new TextEncoder();

/** Opens the registry on a pool the caller owns: migrates (under the shared lock) and returns the store. */
export async function postgresConsentStore(pool: pg.Pool, opts: PostgresConsentStoreOptions): Promise<PostgresConsentStore> {
  if (opts.timezone !== undefined && !isValidTimezone(opts.timezone)) {
    throw new Error(`consent timezone "${opts.timezone}" is not an IANA zone known to this Node or a ±hh:mm offset`);
  }
  if (!opts.cipher) throw new Error('consent registry: a cipher is required (consents are never stored or read in clear)');
  const kit = await loadErrorKit();
  if (opts.migrate !== false) {
    try {
      await migrateConsentPg(pool, 'consent', PG_CONSENT_MIGRATIONS);
    } catch (err) {
      throw mapError(kit, err);
    }
  }
  return new PgConsentRegistry(pool, opts, kit);
}

class PgConsentRegistry implements PostgresConsentStore {
  private readonly cache = new Map<string, StoredConsent>();
  /** Patient tokens derived from each cached version's own (decrypted) content. */
  private readonly tokensOf = new Map<string, Set<string>>();
  /** Integrity failures already audited by this process. */
  private readonly audited = new Set<string>();
  private readonly listeners = new Set<WithdrawListener>();
  private readonly clock: () => Date;
  private readonly timezone: string;
  private readonly cacheSize: number;
  private readonly newId: () => string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: PostgresConsentStoreOptions,
    private readonly kit: PgErrorKit,
  ) {
    this.clock = opts.clock ?? (() => new Date());
    this.timezone = opts.timezone ?? DEFAULT_TIMEZONE;
    this.cacheSize = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.newId = opts.newId ?? randomUUID;
  }

  async put(resource: unknown, opts: PutOptions = {}): Promise<PutResult> {
    await this.ready();
    const after = newAfter();
    const result = await inTx(this.pool, this.kit, async (q) => {
      const r = await this.putOne(q, resource, opts, after);
      await this.auditInTx(q, after.audit);
      return r;
    });
    await this.afterCommit(after);
    return result;
  }

  async putMany(resources: readonly unknown[], opts: { source?: string } = {}): Promise<PutManyResult[]> {
    await this.ready();
    const after = newAfter();
    const results = await inTx(this.pool, this.kit, async (q) => {
      // Ids known up front are locked in one order, so two batches sharing ids cannot deadlock.
      const ids = [...new Set(resources.map((r) => (r as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string' && FHIR_ID.test(id)))].sort();
      for (const id of ids) await lockId(q, id);
      const out: PutManyResult[] = [];
      // Validation happens before any statement of a resource writes, so a bad one leaves nothing behind.
      for (const r of resources) {
        try {
          out.push({ ok: true, ...(await this.putOne(q, r, opts, after)) });
        } catch (err) {
          if (err instanceof ConsentValidationError) out.push({ ok: false, error: err });
          else throw err;
        }
      }
      await this.auditInTx(q, after.audit);
      return out;
    });
    await this.afterCommit(after);
    return results;
  }

  async withdraw(id: string, reason?: string, actor?: string): Promise<{ id: string; version: number }> {
    await this.ready();
    const after = newAfter();
    const r = await inTx(this.pool, this.kit, async (q) => {
      await lockId(q, id);
      const current = await this.currentOf(q, id);
      if (!current) throw new ConsentNotFoundError(id);
      if ((WITHDRAWN_STATUSES as readonly string[]).includes(current.status)) return { id, version: current.version };
      const latest = await this.readVersion(q, id, current.version, true);
      if (!latest) throw new ConsentNotFoundError(id);
      const { meta: _meta, ...rest } = latest.resource;
      const put = await this.putOne(
        q,
        { ...rest, status: 'inactive' },
        { id, reason: reason ?? 'withdrawn', keepTokens: true, source: sourceOfStored(latest.resource), ...(actor ? { actor } : {}) },
        after,
      );
      await this.auditInTx(q, after.audit);
      return { id, version: put.version };
    });
    await this.afterCommit(after);
    return r;
  }

  async get(id: string, version?: number): Promise<StoredConsentWithResource | undefined> {
    await this.ready();
    const v = version ?? (await this.currentOf(this.pool, id))?.version;
    return v === undefined ? undefined : this.readVersion(this.pool, id, v, true);
  }

  async history(id: string): Promise<(StoredConsentWithResource & { reason?: string })[]> {
    await this.ready();
    const rows = await query<VersionRow>(this.pool, this.kit, 'SELECT * FROM consent_version WHERE id = $1 ORDER BY version', [id]);
    const out: (StoredConsentWithResource & { reason?: string })[] = [];
    for (const row of rows) out.push({ ...(await this.decodeOrThrow(row)), ...(row.reason ? { reason: row.reason } : {}) });
    return out;
  }

  /**
   * Latest versions (active and not) of the consents indexed under any of these tokens, in one
   * query. Nothing between two calls is cached but the compiled consents of versions (which
   * never change): a withdrawal committed by another node is seen by the next call.
   */
  async forTokens(tokens: readonly string[]): Promise<StoredConsent[]> {
    if (!tokens.length) return [];
    await this.ready();
    const rows = await query<LookupRow>(
      this.pool,
      this.kit,
      `SELECT q.token, c.id, c.version, c.status, c.received_at,
              (SELECT max(m.version) FROM consent_version m WHERE m.id = c.id) AS max_version,
              v.status AS version_status, v.encrypted, v.resource, v.reason
         FROM unnest($1::text[]) WITH ORDINALITY AS q(token, ord)
         JOIN consent_token t ON t.token = q.token
         JOIN consent_current c ON c.id = t.id
         LEFT JOIN consent_version v ON v.id = c.id AND v.version = c.version
        ORDER BY q.ord, c.id`,
      [[...tokens]],
    );
    const out: StoredConsent[] = [];
    const seen = new Set<string>();
    const refused: Array<[IntegrityError, string, number]> = [];
    for (const row of rows) {
      if (seen.has(row.id)) continue;
      const c = this.compiledFor(row, refused);
      // The token index is a clear column: a row naming this patient for another patient's consent is refused.
      const own = this.tokensOf.get(`${c.id}@${c.version}`);
      if (own && !own.has(row.token)) {
        refused.push([new IntegrityError('consent_token', 'token row points at a consent about another patient'), row.id, row.version]);
        continue;
      }
      seen.add(row.id);
      out.push(c);
    }
    for (const [err, id, version] of refused) await this.refused(err, id, version);
    return out;
  }

  async list(query: { patientIds?: string[]; limit?: number; source?: string } = {}): Promise<StoredConsentWithResource[] & { unreadable: number }> {
    await this.ready();
    const limit = query.limit ?? 1_000_000;
    const wanted: Array<{ id: string; version: number }> = query.patientIds
      ? (await this.forTokens(tokensForIds(query.patientIds, this.opts.tokenize, query.source ?? DEFAULT_SOURCE))).slice(0, limit)
      : await this.all(limit);
    const rows = wanted.length
      ? await this.sql<VersionRow>(
          `SELECT v.* FROM unnest($1::text[], $2::int[]) AS w(id, version)
             JOIN consent_version v ON v.id = w.id AND v.version = w.version`,
          [wanted.map((w) => w.id), wanted.map((w) => w.version)],
        )
      : [];
    const byKey = new Map(rows.map((r) => [`${r.id}@${r.version}`, r]));
    const out = Object.assign([] as StoredConsentWithResource[], { unreadable: 0 });
    for (const w of wanted) {
      const row = byKey.get(`${w.id}@${w.version}`);
      const s = row ? await this.decode(row).catch(() => undefined) : undefined;
      if (s) out.push(s);
      else out.unreadable++;
    }
    return out;
  }

  async search(query: { patientIds?: string[]; status?: string; source?: string }): Promise<FhirResource> {
    return consentSearchset(await this.list({ patientIds: query.patientIds, limit: 1000, ...(query.source ? { source: query.source } : {}) }), query.status);
  }

  async count(): Promise<number> {
    const [r] = await this.sql<{ n: number }>('SELECT count(*)::int AS n FROM consent_current');
    return r?.n ?? 0;
  }

  /**
   * Called after a withdrawal made through THIS store commits. Listeners are local to the node:
   * another node's withdrawal is not announced here, but it is seen all the same, because
   * nothing is cached between lookups and every forTokens reads the database.
   */
  onWithdraw(listener: WithdrawListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  close(): void {
    this.cache.clear();
    this.tokensOf.clear();
    this.listeners.clear();
  }

  // ——— writes ———

  private async putOne(q: Queryable, resource: unknown, opts: PutOptions & { keepTokens?: boolean }, after: After): Promise<PutResult> {
    const compiled = compileConsent(resource, { timezone: this.timezone });
    const res = resource as FhirResource;
    if (opts.id !== undefined && !FHIR_ID.test(opts.id)) throw new ConsentValidationError('Consent.id', 'the id in the URL is not a FHIR id');
    if (opts.id !== undefined && res.id !== undefined && res.id !== opts.id) {
      throw new ConsentValidationError('Consent.id', 'does not match the id in the URL');
    }
    const id = opts.id ?? res.id ?? this.newId();
    await lockId(q, id);
    const current = await this.currentOf(q, id);
    if (current) {
      const latest = await this.readVersion(q, id, current.version);
      if (latest && sameContent(latest.resource, res)) {
        return { id, version: current.version, status: current.status, unchanged: true };
      }
    }
    const version = (current?.version ?? 0) + 1;
    const receivedAt = this.clock().toISOString();
    // meta.source records who filed it (inside the sealed, row-bound resource): weak ids are namespaced by it.
    const source = opts.source ?? DEFAULT_SOURCE;
    const stored: FhirResource = { ...res, id, meta: { ...(res.meta ?? {}), versionId: String(version), lastUpdated: receivedAt, source: filedBySource(source) } };
    const oldTokens = current ? (await q.query<{ token: string }>('SELECT token FROM consent_token WHERE id = $1', [id])).rows.map((r) => r.token) : [];
    const named = opts.keepTokens ? { index: oldTokens, all: oldTokens, binds: [] } : this.indexTokens(res.patient, source);
    const tokens = named.index;
    if (oldTokens.length > 0 && !named.all.some((t) => oldTokens.includes(t))) {
      throw new ConsentValidationError('Consent.patient', 'a new version must be about the same patient (post a new Consent instead)');
    }
    const blob = this.opts.cipher.encrypt(enc.encode(JSON.stringify(stored)), CIPHER_SCOPE, consentRowAad(id, version, compiled.status));
    await q.query('INSERT INTO consent_version (id, version, status, received_at, reason, encrypted, resource) VALUES ($1, $2, $3, $4, $5, 1, $6::bytea)', [
      id,
      version,
      compiled.status,
      receivedAt,
      opts.reason ?? null,
      Buffer.from(blob),
    ]);
    await q.query(
      `INSERT INTO consent_current (id, version, status, received_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status, received_at = excluded.received_at`,
      [id, version, compiled.status, receivedAt],
    );
    await q.query('DELETE FROM consent_token WHERE id = $1', [id]);
    if (tokens.length) await q.query('INSERT INTO consent_token (token, id) SELECT DISTINCT unnest($1::text[]), $2 ON CONFLICT DO NOTHING', [tokens, id]);
    after.binds.push(...named.binds);
    after.remember.push([{ id, version, status: compiled.status, receivedAt, compiled: { ...compiled, id, version } }, tokens]);
    const withdrawn = current?.status === 'active' && (WITHDRAWN_STATUSES as readonly string[]).includes(compiled.status);
    const fields = { time: receivedAt, consentId: id, consentVersion: String(version), ...(opts.actor ? { actor: opts.actor } : {}), ...(tokens[0] ? { patientToken: tokens[0] } : {}) };
    after.audit.push(
      withdrawn
        ? auditEvents.consentWithdrawn({ ...fields, reason: `consent withdrawn (status ${compiled.status}${opts.reason ? `, ${opts.reason}` : ''})` })
        : auditEvents.adminAction({ ...fields, reason: `consent version stored (status ${compiled.status})` }),
    );
    if (withdrawn) {
      const all = [...new Set([...oldTokens, ...tokens])];
      const info: WithdrawInfo = { version, status: compiled.status, purposes: consentPurposes(compiled) };
      after.events.push(() => this.emit(all, id, info));
    }
    return { id, version, status: compiled.status };
  }

  /** As the SQLite registry: a consent naming a strong id is found by it alone; its weak ids are bound to it. */
  private indexTokens(patient: unknown, source: string): { index: string[]; all: string[]; binds: Array<[string, string[]]> } {
    const k = tokensByKind(patientIdStrings(patient as { reference?: unknown }), this.opts.tokenize, source);
    const all = [...k.strong, ...k.weak, ...k.other];
    if (!k.strong.length) return { index: all, all, binds: [] };
    return { index: k.strong, all, binds: k.weak.map((w) => [w, k.strong] as [string, string[]]) };
  }

  private async auditInTx(q: Queryable, events: AuditEvent[]): Promise<void> {
    if (events.length && this.opts.auditLog) await this.opts.auditLog.append(events, q);
  }

  private async afterCommit(after: After): Promise<void> {
    for (const [s, tokens] of after.remember) this.remember(s, tokens);
    if (after.audit.length) this.opts.audit?.append(after.audit);
    for (const e of after.events) e();
    // Bindings are memory, not the consent: a failure leaves the weak id unbound (the stricter reading).
    for (const [weak, strong] of after.binds) await this.opts.facts?.bind(weak, strong).catch(() => {});
  }

  private emit(tokens: string[], id: string, info: WithdrawInfo): void {
    for (const l of this.listeners) {
      try {
        l(tokens, id, info);
      } catch {
        /* a listener's failure must not undo a committed withdrawal; the send-time recheck still holds */
      }
    }
  }

  // ——— reads ———

  private async ready(): Promise<void> {
    // A key table on the database (the key-table cipher) may need to make or fetch the scope's key first.
    if (!this.opts.cipher.prepare) return;
    try {
      await this.opts.cipher.prepare([CIPHER_SCOPE]);
    } catch (err) {
      throw mapError(this.kit, err);
    }
  }

  private async sql<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
    return query<R>(this.pool, this.kit, text, params);
  }

  private async currentOf(q: Queryable, id: string): Promise<CurrentRow | undefined> {
    try {
      return (await q.query<CurrentRow>('SELECT id, version, status, received_at FROM consent_current WHERE id = $1', [id])).rows[0];
    } catch (err) {
      throw mapError(this.kit, err);
    }
  }

  private async all(limit: number): Promise<CurrentRow[]> {
    return this.sql<CurrentRow>('SELECT id, version, status, received_at FROM consent_current ORDER BY received_at, id LIMIT $1', [limit]);
  }

  private compiledFor(row: LookupRow, refused: Array<[IntegrityError, string, number]>): StoredConsent {
    const key = `${row.id}@${row.version}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    let full: StoredConsentWithResource | undefined;
    try {
      // The current pointer is a clear row: it must name the latest stored version, with that version's status.
      if (row.max_version !== row.version) throw new IntegrityError('consent_current', 'current pointer does not name the latest stored version');
      if (row.version_status !== null && row.version_status !== row.status) throw new IntegrityError('consent_current', 'current status differs from the stored version');
      if (row.resource !== null && row.encrypted !== null && row.version_status !== null) {
        full = this.decodeSync({ id: row.id, version: row.version, status: row.version_status, received_at: row.received_at, reason: row.reason, encrypted: row.encrypted, resource: row.resource }, refused);
      }
    } catch (err) {
      // As on SQLite, anything that cannot be read back denies: a refusal is audited, a lost key is not a forgery.
      if (err instanceof IntegrityError && !refused.some(([e]) => e === err)) refused.push([err, row.id, row.version]);
    }
    if (!full) {
      return { id: row.id, version: row.version, status: 'active', receivedAt: row.received_at, compiled: unreadable(row) };
    }
    const { resource, ...stored } = full;
    this.remember(stored, tokensForIds(patientIdStrings(resource.patient as { reference?: unknown }), this.opts.tokenize, sourceOfStored(resource)));
    return stored;
  }

  private remember(s: StoredConsent, tokens: readonly string[]): void {
    const key = `${s.id}@${s.version}`;
    this.cache.set(key, s);
    this.tokensOf.set(key, new Set(tokens));
    if (this.cache.size > this.cacheSize) {
      const old = this.cache.keys().next().value as string;
      this.cache.delete(old);
      this.tokensOf.delete(old);
    }
  }

  /** A refused row, audited once per process (no content of the row, only its identifiers). */
  private async refused(err: IntegrityError, id: string, version: number): Promise<void> {
    const key = `${err.table}|${id}|${version}|${err.why}`;
    if (this.audited.has(key)) return;
    this.audited.add(key);
    const event = integrityFailureEvent({ table: err.table, reason: err.why, time: this.clock(), consentId: id, consentVersion: version });
    try {
      await this.opts.auditLog?.append([event]);
      this.opts.audit?.append([event]);
    } catch {
      this.audited.delete(key); // try again at the next lookup; the row stays refused either way
    }
  }

  /** Reads and decodes one version; undefined when missing, and when unreadable unless `strict` (then it throws). */
  private async readVersion(q: Queryable, id: string, version: number, strict = false): Promise<StoredConsentWithResource | undefined> {
    let row: VersionRow | undefined;
    try {
      row = (await q.query<VersionRow>('SELECT * FROM consent_version WHERE id = $1 AND version = $2', [id, version])).rows[0];
    } catch (err) {
      throw mapError(this.kit, err);
    }
    if (!row) return undefined;
    if (strict) return this.decodeOrThrow(row);
    return this.decode(row).catch(() => undefined);
  }

  private async decodeOrThrow(row: VersionRow): Promise<StoredConsentWithResource> {
    try {
      return await this.decode(row);
    } catch (err) {
      throw new ConsentUnreadableError(row.id, row.version, err instanceof IntegrityError ? `refused: ${err.why}` : undefined);
    }
  }

  /** decodeSync, with a refusal audited before the error goes on. */
  private async decode(row: VersionRow): Promise<StoredConsentWithResource> {
    const refused: Array<[IntegrityError, string, number]> = [];
    try {
      return this.decodeSync(row, refused);
    } finally {
      for (const [err, id, version] of refused) await this.refused(err, id, version);
    }
  }

  /** Decrypts a version bound to its (id, version, status) and checks the content agrees; records a refusal otherwise. */
  private decodeSync(row: VersionRow, refused: Array<[IntegrityError, string, number]>): StoredConsentWithResource {
    try {
      return openConsentVersion({ ...row, resource: new Uint8Array(row.resource) }, this.opts.cipher, this.timezone);
    } catch (err) {
      if (err instanceof IntegrityError) refused.push([err, row.id, row.version]);
      throw err;
    }
  }
}

/** What a transaction hands on to the moment after its COMMIT. */
interface After {
  events: Array<() => void>;
  audit: AuditEvent[];
  binds: Array<[string, string[]]>;
  remember: Array<[StoredConsent, string[]]>;
}

const newAfter = (): After => ({ events: [], audit: [], binds: [], remember: [] });

/** Serialises writes of one consent id across nodes until the transaction ends (re-entrant within it). */
async function lockId(q: Queryable, id: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [CONSENT_LOCK, id]);
}
