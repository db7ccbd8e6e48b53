// Longer than most files here: the registry's writes, reads and the integrity checks that guard
// them share one set of prepared statements and caches, and split apart they would share state.
/**
 * The consent registry: every version of every Consent, in the shared SQLite file,
 * found by patient token (never by a patient identifier in clear), with compiled
 * provisions cached per (id, version) — versions never change, so the cache is never stale.
 *
 * Someone who can write the database file but has no KEK must not be able to change what a
 * consent says. So every resource is encrypted, bound to its row's (id, version, status)
 * (consentRowAad), and the clear columns lookups use are checked against the decrypted
 * content on read (integrity.ts): a row in clear, a ciphertext moved to another row, a status
 * or version edited in a clear column, a current pointer rolled back, or a token row pointing
 * at another patient's consent is refused, audited (integrity-failure) and never acted on —
 * the patient's consents then deny everything until an operator repairs the store.
 * Deleting rows outright is not detectable here; the audit log keeps every stored version.
 */
import { consentSearchset } from './searchset.js';
import { randomUUID } from 'node:crypto';
import type { AuditSink, ConsentDecision, FhirResource, PayloadCipher, PurposeOfUse } from '../model/index.js';
import { auditEvents } from '../audit/index.js';
import { migrate, type Db } from '../store/index.js';
import { consentRowAad } from '../crypto/index.js';
import { integrityFailureEvent, type IntegrityTable } from '../audit/index.js';
import { rebindLegacyConsents } from './rebind.js';
import { compileConsent, ConsentValidationError } from './compile.js';
import { consentPurposes, evaluateConsent } from './evaluate.js';
import { DEFAULT_SOURCE, patientIdStrings, tokensByKind, tokensForIds } from './ids.js';
import type { PatientMemory } from './memory.js';
import { CONSENT_MIGRATIONS } from './schema.js';
import { DEFAULT_TIMEZONE, isValidTimezone } from './time.js';
import {
  WITHDRAWN_STATUSES,
  type CompiledConsent,
  type ConsentRequest,
  type ConsentStatus,
  type StoredConsent,
  type StoredConsentWithResource,
} from './types.js';

export const DEFAULT_CACHE_SIZE = 100_000;
/** Patient tokens whose lookup result (possibly empty) is kept in memory. */
export const DEFAULT_TOKEN_CACHE_SIZE = 200_000;
/** PayloadCipher scope the resources are encrypted under. */
export const CIPHER_SCOPE = 'consent';

export interface ConsentRegistryOptions {
  /** Keyed hash of a patient id string (the crypto folder's HMAC with the appliance key). */
  tokenize: (id: string) => string;
  /**
   * Encrypts stored resources at rest under scope "consent", bound to their rows. Required:
   * nothing is stored or read in clear. With rebindLegacy (the at-rest cipher), rows written
   * before row binding are re-encrypted once at open.
   */
  cipher: PayloadCipher & { rebindLegacy?: (data: Uint8Array, scope: string, aad: Uint8Array) => Uint8Array };
  clock?: () => Date;
  /** Zone for date-only values in provisions (default Asia/Karachi). */
  timezone?: string;
  /** Compiled consents kept in memory (LRU). */
  cacheSize?: number;
  /** Token → latest consent rows kept in memory; flushed whenever another connection commits. */
  tokenCacheSize?: number;
  newId?: () => string;
  /** Audit sink on the same database: every stored version is audited in the same transaction (no PHI). */
  audit?: AuditSink;
  /** Where a consent naming both a weak and a strong id records the binding (see memory.ts). */
  memory?: Pick<PatientMemory, 'bind'>;
}

/** Who filed a consent: its weak ids (Patient/123, |77) are namespaced by this source. */
export interface PutOptions {
  id?: string;
  reason?: string;
  /** The authenticated sender: weak patient ids (Patient/123) are namespaced by it. */
  source?: string;
  /** Who wrote it, named in the audit entry. */
  actor?: string;
}

export interface PutResult {
  id: string;
  version: number;
  status: string;
  /** True when this post created nothing new (same content as the latest version). */
  unchanged?: boolean;
}

export type PutManyResult = ({ ok: true } & PutResult) | { ok: false; error: ConsentValidationError };

/** What onWithdraw listeners receive besides tokens and id. */
export interface WithdrawInfo {
  version: number;
  status: string;
  /** Purposes the withdrawn consent could speak for (root purposes within its scope; see consentPurposes); null = any. */
  purposes: PurposeOfUse[] | null;
}

export type WithdrawListener = (patientTokens: string[], consentId: string, info: WithdrawInfo) => void;

/** Thrown for an unknown consent id (HTTP 404). */
export class ConsentNotFoundError extends Error {
  override name = 'ConsentNotFoundError';
  constructor(readonly id: string) {
    super(`Consent/${id} is not known`);
  }
}

/** A stored version that cannot be decoded: its row was forged or altered, or this process has no key to it. */
export class ConsentUnreadableError extends Error {
  override name = 'ConsentUnreadableError';
  constructor(
    readonly id: string,
    readonly version: number,
    readonly why = 'altered, or no key to the at-rest cipher here',
  ) {
    super(`Consent/${id} version ${version} cannot be read (${why})`);
  }
}

/** A row whose clear columns or ciphertext do not hold together: refused (table and fixed words only). */
/** A stored row that is not what its clear columns say (refused, and audited by the store that read it). */
export class IntegrityError extends Error {
  constructor(
    readonly table: IntegrityTable,
    readonly why: string,
  ) {
    super(why);
  }
}

export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const enc = new TextEncoder();
const dec = new TextDecoder();

interface CurrentRow {
  id: string;
  version: number;
  status: string;
  received_at: string;
}
interface VersionRow extends CurrentRow {
  reason: string | null;
  encrypted: number;
  resource: Uint8Array;
}

/** A consent that could not be read back (tampered ciphertext, lost key): it denies everything. */
export function unreadable(row: CurrentRow): CompiledConsent {
  return {
    id: row.id,
    version: row.version,
    status: 'active',
    scopes: ['patient-privacy', 'treatment', 'research', 'adr'],
    guardianPerformer: true,
    root: { path: 'provision (unreadable)', type: 'deny', namesCategories: [], children: [] },
  };
}

export class ConsentRegistry {
  private readonly cache = new Map<string, StoredConsent>();
  /** Patient tokens derived from each cached version's own (decrypted) content. */
  private readonly tokensOf = new Map<string, Set<string>>();
  /** Integrity failures already audited by this process. */
  private readonly audited = new Set<string>();
  private readonly tokenCache = new Map<string, CurrentRow[]>();
  private dataVersion = -1;
  private readonly listeners = new Set<WithdrawListener>();
  private readonly q;
  private readonly clock: () => Date;
  private readonly timezone: string;
  private readonly cacheSize: number;
  private readonly tokenCacheSize: number;
  private readonly newId: () => string;

  static open(db: Db, opts: ConsentRegistryOptions): ConsentRegistry {
    if (opts.timezone !== undefined && !isValidTimezone(opts.timezone)) {
      throw new Error(`consent timezone "${opts.timezone}" is not an IANA zone known to this Node or a ±hh:mm offset`);
    }
    if (!opts.cipher) throw new Error('consent registry: a cipher is required (consents are never stored or read in clear)');
    migrate(db, 'consent', CONSENT_MIGRATIONS);
    if (opts.cipher.rebindLegacy) rebindLegacyConsents(db, opts.cipher as Parameters<typeof rebindLegacyConsents>[1]);
    return new ConsentRegistry(db, opts);
  }

  private constructor(
    private readonly db: Db,
    private readonly opts: ConsentRegistryOptions,
  ) {
    this.clock = opts.clock ?? (() => new Date());
    this.timezone = opts.timezone ?? DEFAULT_TIMEZONE;
    this.cacheSize = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.tokenCacheSize = opts.tokenCacheSize ?? DEFAULT_TOKEN_CACHE_SIZE;
    this.newId = opts.newId ?? randomUUID;
    this.q = {
      current: db.prepare('SELECT id, version, status, received_at FROM consent_current WHERE id = ?'),
      maxVersion: db.prepare('SELECT max(version) FROM consent_version WHERE id = ?').pluck(),
      version: db.prepare('SELECT * FROM consent_version WHERE id = ? AND version = ?'),
      history: db.prepare('SELECT * FROM consent_version WHERE id = ? ORDER BY version'),
      all: db.prepare('SELECT id, version, status, received_at FROM consent_current ORDER BY received_at, id LIMIT ?'),
      count: db.prepare('SELECT count(*) AS n FROM consent_current'),
      tokensOf: db.prepare('SELECT token FROM consent_token WHERE id = ?').pluck(),
      byToken: db.prepare(
        'SELECT c.id, c.version, c.status, c.received_at FROM consent_token t JOIN consent_current c ON c.id = t.id WHERE t.token = ?',
      ),
      // Changes when ANOTHER connection (e.g. `darwaza consent import`) commits: then the token cache is flushed.
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      insertVersion: db.prepare(
        'INSERT INTO consent_version (id, version, status, received_at, reason, encrypted, resource) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      upsertCurrent: db.prepare(
        `INSERT INTO consent_current (id, version, status, received_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status, received_at = excluded.received_at`,
      ),
      deleteTokens: db.prepare('DELETE FROM consent_token WHERE id = ?'),
      insertToken: db.prepare('INSERT OR IGNORE INTO consent_token (token, id) VALUES (?, ?)'),
    };
  }

  /** Stores a Consent as a new version (validating it). `opts.id` is the id of a PUT URL. */
  put(resource: unknown, opts: PutOptions = {}): PutResult {
    const events: Array<() => void> = [];
    const result = this.db.transaction(() => this.putOne(resource, opts, events))();
    for (const e of events) e();
    return result;
  }

  /** Stores many Consents in one transaction; a bad one is reported and skipped, the rest are kept. */
  putMany(resources: readonly unknown[], opts: { source?: string } = {}): PutManyResult[] {
    const events: Array<() => void> = [];
    const results = this.db.transaction(() =>
      resources.map((r): PutManyResult => {
        try {
          return { ok: true, ...this.putOne(r, opts, events) };
        } catch (err) {
          if (err instanceof ConsentValidationError) return { ok: false, error: err };
          throw err;
        }
      }),
    )();
    for (const e of events) e();
    return results;
  }

  private putOne(resource: unknown, opts: PutOptions & { keepTokens?: boolean }, events: Array<() => void>): PutResult {
    const compiled = compileConsent(resource, { timezone: this.timezone });
    const res = resource as FhirResource;
    if (opts.id !== undefined && !FHIR_ID.test(opts.id)) throw new ConsentValidationError('Consent.id', 'the id in the URL is not a FHIR id');
    if (opts.id !== undefined && res.id !== undefined && res.id !== opts.id) {
      throw new ConsentValidationError('Consent.id', 'does not match the id in the URL');
    }
    const id = opts.id ?? res.id ?? this.newId();
    const current = this.q.current.get(id) as CurrentRow | undefined;
    if (current) {
      const latest = this.readVersion(id, current.version);
      if (latest && sameContent(latest.resource, res)) {
        return { id, version: current.version, status: current.status, unchanged: true };
      }
    }
    const version = (current?.version ?? 0) + 1;
    const receivedAt = this.clock().toISOString();
    // meta.source records who filed it (inside the encrypted, row-bound resource), so the token
    // index can be re-derived on read: weak ids are namespaced by that source.
    const source = opts.source ?? DEFAULT_SOURCE;
    const stored: FhirResource = { ...res, id, meta: { ...(res.meta ?? {}), versionId: String(version), lastUpdated: receivedAt, source: filedBySource(source) } };
    const oldTokens = current ? (this.q.tokensOf.all(id) as string[]) : [];
    const named = opts.keepTokens ? { index: oldTokens, all: oldTokens } : this.indexTokens(res.patient, source);
    const tokens = named.index;
    if (oldTokens.length > 0 && !named.all.some((t) => oldTokens.includes(t))) {
      throw new ConsentValidationError('Consent.patient', 'a new version must be about the same patient (post a new Consent instead)');
    }
    const plain = enc.encode(JSON.stringify(stored));
    const blob = this.opts.cipher.encrypt(plain, CIPHER_SCOPE, consentRowAad(id, version, compiled.status));
    this.q.insertVersion.run(id, version, compiled.status, receivedAt, opts.reason ?? null, 1, blob);
    this.q.upsertCurrent.run(id, version, compiled.status, receivedAt);
    this.q.deleteTokens.run(id);
    for (const t of tokens) this.q.insertToken.run(t, id);
    for (const t of oldTokens) this.tokenCache.delete(t);
    for (const t of tokens) this.tokenCache.delete(t);
    this.remember({ id, version, status: compiled.status, receivedAt, compiled: { ...compiled, id, version } }, tokens);
    const withdrawn = current?.status === 'active' && (WITHDRAWN_STATUSES as readonly string[]).includes(compiled.status);
    const fields = { time: receivedAt, consentId: id, consentVersion: String(version), ...(opts.actor ? { actor: opts.actor } : {}), ...(tokens[0] ? { patientToken: tokens[0] } : {}) };
    this.opts.audit?.append([
      withdrawn
        ? auditEvents.consentWithdrawn({ ...fields, reason: `consent withdrawn (status ${compiled.status}${opts.reason ? `, ${opts.reason}` : ''})` })
        : auditEvents.adminAction({ ...fields, reason: `consent version stored (status ${compiled.status})` }),
    ]);
    if (withdrawn) {
      const all = [...new Set([...oldTokens, ...tokens])];
      const info: WithdrawInfo = { version, status: compiled.status, purposes: consentPurposes(compiled) };
      events.push(() => this.emit(all, id, info));
    }
    return { id, version, status: compiled.status };
  }

  /** Withdraws a consent (DELETE): a new version with status inactive. Idempotent. `reason`: fixed words, no PHI. */
  withdraw(id: string, reason?: string, actor?: string): { id: string; version: number } {
    const current = this.q.current.get(id) as CurrentRow | undefined;
    if (!current) throw new ConsentNotFoundError(id);
    if ((WITHDRAWN_STATUSES as readonly string[]).includes(current.status)) return { id, version: current.version };
    const latest = this.readVersion(id, current.version, true);
    if (!latest) throw new ConsentNotFoundError(id);
    const { meta: _meta, ...rest } = latest.resource;
    const events: Array<() => void> = [];
    const r = this.db.transaction(() =>
      this.putOne({ ...rest, status: 'inactive' }, { id, reason: reason ?? 'withdrawn', keepTokens: true, source: sourceOfStored(latest.resource), ...(actor ? { actor } : {}) }, events),
    )();
    for (const e of events) e();
    return { id, version: r.version };
  }

  /**
   * The tokens a consent is found by. A consent that names a strong id (CNIC, system|MRN) binds
   * to it alone: a weak id beside it is recorded as bound to it (memory) but does not index the
   * consent, so a message whose Patient/123 carries another CNIC never finds it. A consent with
   * only weak ids is found by them, namespaced by the source that filed it.
   */
  private indexTokens(patient: unknown, source: string): { index: string[]; all: string[] } {
    const k = tokensByKind(patientIdStrings(patient as { reference?: unknown }), this.opts.tokenize, source);
    const all = [...k.strong, ...k.weak, ...k.other];
    if (!k.strong.length) return { index: all, all };
    for (const w of k.weak) this.opts.memory?.bind(w, k.strong);
    return { index: k.strong, all };
  }

  /** One version (default: the latest), with its resource. Throws ConsentUnreadableError when it cannot be decoded. */
  get(id: string, version?: number): StoredConsentWithResource | undefined {
    const v = version ?? (this.q.current.get(id) as CurrentRow | undefined)?.version;
    return v === undefined ? undefined : this.readVersion(id, v, true);
  }

  /** Every version, oldest first, with when each was received. Throws ConsentUnreadableError for an undecodable one. */
  history(id: string): (StoredConsentWithResource & { reason?: string })[] {
    return (this.q.history.all(id) as VersionRow[]).map((row) => ({
      ...this.decodeOrThrow(row),
      ...(row.reason ? { reason: row.reason } : {}),
    }));
  }

  /**
   * Latest versions (active and not) of the consents indexed under any of these patient tokens.
   * Cheap: token → rows from memory (flushed when another connection commits; our own writes
   * invalidate their tokens), compiled consents from the (id, version) cache.
   */
  forTokens(tokens: readonly string[]): StoredConsent[] {
    const dv = this.q.dataVersion.get() as number;
    if (dv !== this.dataVersion) {
      this.tokenCache.clear();
      this.dataVersion = dv;
    }
    const out: StoredConsent[] = [];
    const seen = new Set<string>();
    for (const token of tokens) {
      let rows = this.tokenCache.get(token);
      if (rows === undefined) {
        rows = this.q.byToken.all(token) as CurrentRow[];
        if (this.tokenCache.size >= this.tokenCacheSize) this.tokenCache.delete(this.tokenCache.keys().next().value as string);
        this.tokenCache.set(token, rows);
      }
      for (const row of rows) {
        if (seen.has(row.id)) continue;
        const c = this.compiledFor(row);
        // The token index is a clear column: a row naming this patient for another patient's consent is refused.
        const own = this.tokensOf.get(`${c.id}@${c.version}`);
        if (own && !own.has(token)) {
          this.refused(new IntegrityError('consent_token', 'token row points at a consent about another patient'), row.id, row.version);
          continue;
        }
        seen.add(row.id);
        out.push(c);
      }
    }
    return out;
  }

  /** Lookup + evaluation in one call: what the pipeline asks at arrival and at send time. */
  evaluate(patientTokens: readonly string[], request: ConsentRequest): ConsentDecision {
    return evaluateConsent(
      this.forTokens(patientTokens).map((c) => c.compiled),
      request,
    );
  }

  /**
   * Latest versions for patients (id strings, normalised and tokenized here), or all when none given.
   * Versions that cannot be decoded are left out and counted in `unreadable`.
   */
  list(query: { patientIds?: string[]; limit?: number; source?: string } = {}): StoredConsentWithResource[] & { unreadable: number } {
    const limit = query.limit ?? 1_000_000;
    const rows = query.patientIds
      ? this.forTokens(tokensForIds(query.patientIds, this.opts.tokenize, query.source ?? DEFAULT_SOURCE)).slice(0, limit)
      : (this.q.all.all(limit) as CurrentRow[]).map((r) => ({ id: r.id, version: r.version }));
    const out = Object.assign([] as StoredConsentWithResource[], { unreadable: 0 });
    for (const r of rows) {
      const s = this.readVersion(r.id, r.version);
      if (s) out.push(s);
      else out.unreadable++;
    }
    return out;
  }

  /** GET /fhir/Consent?patient=… : a searchset Bundle of the latest versions (an outcome entry notes unreadable ones). */
  search(query: { patientIds?: string[]; status?: string; source?: string }): FhirResource {
    return consentSearchset(this.list({ patientIds: query.patientIds, limit: 1000, ...(query.source ? { source: query.source } : {}) }), query.status);
  }

  count(): number {
    return (this.q.count.get() as { n: number }).n;
  }

  /** Called after a withdrawal commits (status active → inactive/rejected/entered-in-error, or DELETE). */
  onWithdraw(listener: WithdrawListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** No timers or handles of its own; the database belongs to the caller. Clears the cache. */
  close(): void {
    this.cache.clear();
    this.tokensOf.clear();
    this.tokenCache.clear();
    this.listeners.clear();
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

  private compiledFor(row: CurrentRow): StoredConsent {
    const key = `${row.id}@${row.version}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    let full: StoredConsentWithResource | undefined;
    try {
      this.checkCurrent(row);
      full = this.readVersion(row.id, row.version);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      this.refused(err, row.id, row.version);
    }
    if (!full) {
      return { id: row.id, version: row.version, status: 'active', receivedAt: row.received_at, compiled: unreadable(row) };
    }
    const { resource, ...stored } = full;
    this.remember(stored, tokensForIds(patientIdStrings(resource.patient as { reference?: unknown }), this.opts.tokenize, sourceOfStored(resource)));
    return stored;
  }

  /** The current pointer is a clear row: it must name the latest stored version, with that version's status. */
  private checkCurrent(row: CurrentRow): void {
    const max = this.q.maxVersion.get(row.id) as number | null;
    if (max !== row.version) throw new IntegrityError('consent_current', 'current pointer does not name the latest stored version');
    const v = this.q.version.get(row.id, row.version) as VersionRow | undefined;
    if (v && v.status !== row.status) throw new IntegrityError('consent_current', 'current status differs from the stored version');
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
  private refused(err: IntegrityError, id: string, version: number): void {
    const key = `${err.table}|${id}|${version}|${err.why}`;
    if (this.audited.has(key)) return;
    this.audited.add(key);
    try {
      this.opts.audit?.append([integrityFailureEvent({ table: err.table, reason: err.why, time: this.clock(), consentId: id, consentVersion: version })]);
    } catch {
      this.audited.delete(key); // try again at the next lookup; the row stays refused either way
    }
  }

  /** Reads and decodes one version; undefined when missing, and when unreadable unless `strict` (then it throws). */
  private readVersion(id: string, version: number, strict = false): StoredConsentWithResource | undefined {
    const row = this.q.version.get(id, version) as VersionRow | undefined;
    if (!row) return undefined;
    if (strict) return this.decodeOrThrow(row);
    try {
      return this.decode(row);
    } catch {
      return undefined;
    }
  }

  private decodeOrThrow(row: VersionRow): StoredConsentWithResource {
    try {
      return this.decode(row);
    } catch (err) {
      throw new ConsentUnreadableError(row.id, row.version, err instanceof IntegrityError ? `refused: ${err.why}` : undefined);
    }
  }

  /** Decrypts a version bound to its (id, version, status) and checks the content agrees; refuses (and audits) otherwise. */
  private decode(row: VersionRow): StoredConsentWithResource {
    try {
      return openConsentVersion(row, this.opts.cipher, this.timezone);
    } catch (err) {
      if (err instanceof IntegrityError) this.refused(err, row.id, row.version);
      throw err;
    }
  }
}

/**
 * One stored version read back: decrypted bound to its (id, version, status), compiled, and
 * checked against the row's clear columns. Throws IntegrityError when it is not what the row
 * says (a missing key is thrown as it is: not a forgery). Every consent store reads this way.
 */
export function openConsentVersion(
  row: { id: string; version: number; status: string; received_at: string; encrypted: number | string; resource: Uint8Array },
  cipher: Pick<PayloadCipher, 'decrypt'>,
  timezone: string,
): StoredConsentWithResource {
  if (Number(row.encrypted) !== 1) throw new IntegrityError('consent_version', 'the row is not encrypted');
  let bytes: Uint8Array;
  try {
    bytes = cipher.decrypt(row.resource, CIPHER_SCOPE, consentRowAad(row.id, row.version, row.status));
  } catch (err) {
    if ((err as { code?: string })?.code === 'DATA_KEY_GONE') throw err;
    throw new IntegrityError('consent_version', 'ciphertext failed authentication for this id, version and status');
  }
  const resource = JSON.parse(dec.decode(bytes)) as FhirResource;
  const compiled = compileConsent(resource, { timezone, id: row.id, version: row.version });
  const meta = (resource.meta ?? {}) as { versionId?: unknown };
  if (resource.id !== row.id || meta.versionId !== String(row.version) || compiled.status !== row.status) {
    throw new IntegrityError('consent_version', 'decrypted content disagrees with the row');
  }
  return { id: row.id, version: row.version, status: compiled.status, receivedAt: row.received_at, compiled, resource };
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Same resource apart from id and meta.versionId/lastUpdated (a re-posted or re-imported consent). */
export function sameContent(stored: FhirResource, incoming: FhirResource): boolean {
  const strip = (r: FhirResource) => {
    const { id: _id, meta, ...rest } = r;
    const { versionId: _v, lastUpdated: _l, source: _s, ...m } = (meta ?? {}) as Record<string, unknown>;
    return { ...rest, meta: m };
  };
  return canonical(strip(stored)) === canonical(strip(incoming));
}

const SOURCE_URN = 'urn:darwaza:source:';
export const filedBySource = (source: string) => SOURCE_URN + encodeURIComponent(source);
/** The source a stored version was filed by (versions stored before it was recorded: the default). */
export function sourceOfStored(resource: FhirResource): string {
  const s = (resource.meta as { source?: unknown } | undefined)?.source;
  return typeof s === 'string' && s.startsWith(SOURCE_URN) ? decodeURIComponent(s.slice(SOURCE_URN.length)) : DEFAULT_SOURCE;
}
