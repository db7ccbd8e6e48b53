/**
 * What the gateway remembers about patients between messages, keyed by patient token
 * (a keyed hash: no identifier in clear), values encrypted under the at-rest cipher:
 *
 * - the birth date it has seen, so a later message without one is still judged by age
 *   (consent as for a minor while the age is unknown is the evaluator's rule; this only
 *   makes the age known more often);
 * - which strong identity (CNIC, system|MRN token) a source's weak local id first came
 *   with, so "Patient/123" that once was CNIC A never carries A's consent to CNIC B.
 *
 * Reads are served from memory after the first; writes are batched into one transaction
 * per tick (setImmediate), off the message's own commit. Losing the last tick's writes in a
 * crash loses only memory, never a message: the next message with a birth date restores it.
 */
import type { PayloadCipher } from '../model/index.js';
import { migrate, type Db, type Migration } from '../store/index.js';
import { patientMemoryAad } from '../crypto/index.js';

/** Cipher scope of the memory's values (never shredded by retention, which shreds day scopes). */
export const MEMORY_CIPHER_SCOPE = 'patient-memory';
const CACHE = 200_000;

export const PATIENT_MEMORY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'patient memory: birth date and weak-id binding per patient token (values encrypted)',
    up: (db: Db) => {
      db.exec(`
        CREATE TABLE patient_memory (
          token TEXT NOT NULL,
          kind TEXT NOT NULL,
          encrypted INTEGER NOT NULL,
          value BLOB NOT NULL,
          updated_at TEXT NOT NULL,
          PRIMARY KEY (token, kind)
        ) STRICT, WITHOUT ROWID;
      `);
    },
  },
];

type Kind = 'birthDate' | 'boundTo';
const BIRTH_DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;

export interface PatientMemoryOptions {
  cipher?: PayloadCipher;
  clock?: () => Date;
}

export class PatientMemory {
  private readonly cache = new Map<string, string | null>();
  private readonly pending = new Map<string, { token: string; kind: Kind; value: string; replace: boolean }>();
  private flushScheduled = false;
  private readonly q;

  static open(db: Db, opts: PatientMemoryOptions = {}): PatientMemory {
    migrate(db, 'patient-memory', PATIENT_MEMORY_MIGRATIONS);
    return new PatientMemory(db, opts);
  }

  private constructor(
    private readonly db: Db,
    private readonly opts: PatientMemoryOptions,
  ) {
    this.q = {
      get: db.prepare<[string, string], { encrypted: number; value: Uint8Array }>('SELECT encrypted, value FROM patient_memory WHERE token = ? AND kind = ?'),
      upsert: db.prepare(
        `INSERT INTO patient_memory (token, kind, encrypted, value, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (token, kind) DO UPDATE SET encrypted = excluded.encrypted, value = excluded.value, updated_at = excluded.updated_at`,
      ),
      insert: db.prepare('INSERT OR IGNORE INTO patient_memory (token, kind, encrypted, value, updated_at) VALUES (?, ?, ?, ?, ?)'),
      boundTokens: db.prepare("SELECT token FROM patient_memory WHERE kind = 'boundTo'").pluck(),
      deleteToken: db.prepare('DELETE FROM patient_memory WHERE token = ?'),
    };
  }

  /** The birth date remembered under any of these tokens. */
  birthDate(tokens: readonly string[]): string | undefined {
    for (const t of tokens) {
      const v = this.read(t, 'birthDate');
      if (v) return v;
    }
    return undefined;
  }

  /** Remembers a birth date under every token of the patient (the latest seen wins). */
  rememberBirthDate(tokens: readonly string[], birthDate: string): void {
    if (!BIRTH_DATE.test(birthDate)) return;
    for (const t of tokens) if (this.read(t, 'birthDate') !== birthDate) this.write(t, 'birthDate', birthDate, true);
  }

  /** The strong tokens a weak (source-namespaced) token was first seen with. */
  boundTo(weakToken: string): string[] | undefined {
    const v = this.read(weakToken, 'boundTo');
    if (v === undefined) return undefined;
    try {
      const list = JSON.parse(v) as unknown;
      return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : undefined;
    } catch {
      return undefined;
    }
  }

  /** Binds a weak token to the strong tokens of one patient, unless it is bound already (first binding stays). */
  bind(weakToken: string, strongTokens: readonly string[]): void {
    if (strongTokens.length && this.read(weakToken, 'boundTo') === undefined) this.write(weakToken, 'boundTo', JSON.stringify(strongTokens), false);
  }

  /**
   * A patient's erasure: every fact remembered under these tokens, and every weak id bound to
   * them, is deleted. Returns how many rows went.
   */
  forget(tokens: readonly string[]): number {
    this.flush();
    const mine = new Set(tokens);
    // The binding's value is encrypted, so each binding is read to find the ones to this patient.
    const bound = (this.q.boundTokens.all() as string[]).filter((weak) => (this.boundTo(weak) ?? []).some((t) => mine.has(t)));
    let deleted = 0;
    this.db.transaction(() => {
      for (const t of new Set([...mine, ...bound])) deleted += this.q.deleteToken.run(t).changes;
    })();
    this.cache.clear();
    return deleted;
  }

  /** Writes what is pending now (tests, shutdown). */
  flush(): void {
    this.flushScheduled = false;
    if (!this.pending.size) return;
    const rows = [...this.pending.values()];
    this.pending.clear();
    const now = (this.opts.clock?.() ?? new Date()).toISOString();
    this.db.transaction(() => {
      for (const r of rows) {
        const plain = Buffer.from(r.value, 'utf8');
        const blob = this.opts.cipher ? this.opts.cipher.encrypt(plain, MEMORY_CIPHER_SCOPE, patientMemoryAad(r.token, r.kind)) : plain;
        (r.replace ? this.q.upsert : this.q.insert).run(r.token, r.kind, this.opts.cipher ? 1 : 0, blob, now);
      }
    })();
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.cache.clear();
    }
  }

  private read(token: string, kind: Kind): string | undefined {
    const key = `${kind}:${token}`;
    if (this.cache.has(key)) {
      const v = this.cache.get(key)!;
      return v ?? undefined;
    }
    const row = this.q.get.get(token, kind);
    let value: string | null = null;
    if (row) {
      try {
        // There is no clear read path: a row not encrypted (written without a cipher, or forged) reads as unknown.
        value = row.encrypted && this.opts.cipher ? Buffer.from(this.opts.cipher.decrypt(row.value, MEMORY_CIPHER_SCOPE, patientMemoryAad(token, kind))).toString('utf8') : null;
      } catch {
        value = null; // altered or keyless: as if never seen (the stricter reading follows from an unknown age)
      }
    }
    this.remember(key, value);
    return value ?? undefined;
  }

  private write(token: string, kind: Kind, value: string, replace: boolean): void {
    const key = `${kind}:${token}`;
    this.remember(key, value);
    this.pending.set(key, { token, kind, value, replace });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        try {
          this.flush();
        } catch {
          /* memory only: a failed write leaves the age unknown next time (stricter), never a message lost */
        }
      });
    }
  }

  private remember(key: string, value: string | null): void {
    this.cache.delete(key);
    this.cache.set(key, value);
    if (this.cache.size > CACHE) this.cache.delete(this.cache.keys().next().value as string);
  }
}

/**
 * A message's patient tokens, with weak ids checked against what they were first seen with:
 * a weak token bound to another strong identity is dropped (it names someone else here); an
 * unbound one is bound to this message's first strong token; a message with no strong id
 * gains the strong tokens its weak id is bound to. `first` (the identity key's token) leads.
 */
export function resolvePatientTokens(
  parts: { first?: string; strong: string[]; weak: string[]; other: string[] },
  memory: Pick<PatientMemory, 'boundTo' | 'bind'> | undefined,
): string[] {
  const strong = [...parts.strong];
  const weak: string[] = [];
  for (const w of parts.weak) {
    const bound = memory?.boundTo(w);
    if (parts.strong.length) {
      if (bound !== undefined && !bound.some((b) => parts.strong.includes(b))) continue;
      if (bound === undefined) memory?.bind(w, parts.strong);
      weak.push(w);
    } else {
      if (bound !== undefined) strong.push(...bound);
      weak.push(w);
    }
  }
  const all = [...strong, ...weak, ...parts.other];
  const first = parts.first !== undefined && all.includes(parts.first) ? [parts.first] : [];
  return [...new Set([...first, ...all])];
}
