/**
 * Async ports for the consent registry and the patient facts, so a backend that cannot be
 * called synchronously (PostgreSQL) can stand behind them. The message path reads what it
 * needs for one message's tokens in one async step (a snapshot), runs the pure decision on
 * it, and applies what the decision learned (birth date, weak-id bindings) as writes at the
 * edge. No cache lives here: each snapshot reads the store, so a withdrawal on any node is
 * seen by the next message.
 */
import type { ConsentRegistry, PutOptions, PutResult, PutManyResult, WithdrawListener } from './registry.js';
import { resolvePatientTokens, type PatientMemory } from './memory.js';
import type { StoredConsent, StoredConsentWithResource } from './types.js';
import type { FhirResource } from '../model/index.js';

export interface ConsentStore {
  put(resource: unknown, opts?: PutOptions): Promise<PutResult>;
  putMany(resources: readonly unknown[], opts?: { source?: string }): Promise<PutManyResult[]>;
  withdraw(id: string, reason?: string, actor?: string): Promise<{ id: string; version: number }>;
  get(id: string, version?: number): Promise<StoredConsentWithResource | undefined>;
  history(id: string): Promise<(StoredConsentWithResource & { reason?: string })[]>;
  forTokens(tokens: readonly string[]): Promise<StoredConsent[]>;
  list(query?: { patientIds?: string[]; limit?: number; source?: string }): Promise<StoredConsentWithResource[] & { unreadable: number }>;
  search(query: { patientIds?: string[]; status?: string; source?: string }): Promise<FhirResource>;
  count(): Promise<number>;
  onWithdraw(listener: WithdrawListener): () => void;
}

export interface PatientFacts {
  birthDate(tokens: readonly string[]): Promise<string | undefined>;
  rememberBirthDate(tokens: readonly string[], birthDate: string): Promise<void>;
  boundTo(weakToken: string): Promise<string[] | undefined>;
  /** Binds unless bound already (the first binding stays); returns the binding in force afterwards. */
  bind(weakToken: string, strongTokens: readonly string[]): Promise<string[] | undefined>;
  forget(tokens: readonly string[]): Promise<number>;
}

/** The SQLite registry behind the async port (its calls are synchronous; the promise only wraps them). */
export function sqliteConsentStore(registry: ConsentRegistry): ConsentStore {
  return {
    put: async (resource, opts) => registry.put(resource, opts),
    putMany: async (resources, opts) => registry.putMany(resources, opts),
    withdraw: async (id, reason, actor) => registry.withdraw(id, reason, actor),
    get: async (id, version) => registry.get(id, version),
    history: async (id) => registry.history(id),
    forTokens: async (tokens) => registry.forTokens(tokens),
    list: async (query) => registry.list(query),
    search: async (query) => registry.search(query),
    count: async () => registry.count(),
    onWithdraw: (listener) => registry.onWithdraw(listener),
  };
}

/** The SQLite patient memory behind the async port. */
export function sqlitePatientFacts(memory: PatientMemory): PatientFacts {
  return {
    birthDate: async (tokens) => memory.birthDate(tokens),
    rememberBirthDate: async (tokens, birthDate) => memory.rememberBirthDate(tokens, birthDate),
    boundTo: async (weakToken) => memory.boundTo(weakToken),
    bind: async (weakToken, strongTokens) => {
      memory.bind(weakToken, strongTokens);
      return memory.boundTo(weakToken);
    },
    forget: async (tokens) => memory.forget(tokens),
  };
}

/** What one message's decision may read: fetched before it runs. */
export interface PatientSnapshot {
  consents: StoredConsent[];
  birthDate?: string;
  bindings: ReadonlyMap<string, string[] | undefined>;
}

/** A write the decision learned, applied at the edge after it ran. */
export type PatientWrite =
  | { kind: 'bind'; weakToken: string; strongTokens: string[] }
  | { kind: 'birthDate'; tokens: string[]; birthDate: string };

/** Reads the consents, remembered birth date and weak-id bindings for these tokens in one step. */
export async function loadPatientSnapshot(
  store: ConsentStore | undefined,
  facts: PatientFacts | undefined,
  tokens: readonly string[],
  weakTokens: readonly string[] = [],
): Promise<PatientSnapshot> {
  const [consents, birthDate, bound] = await Promise.all([
    store ? store.forTokens(tokens) : Promise.resolve([]),
    facts ? facts.birthDate(tokens) : Promise.resolve(undefined),
    Promise.all(weakTokens.map(async (w) => [w, facts ? await facts.boundTo(w) : undefined] as const)),
  ]);
  return { consents, ...(birthDate !== undefined ? { birthDate } : {}), bindings: new Map(bound) };
}

/**
 * A synchronous `boundTo`/`bind` view of a snapshot for the pure token resolution: reads come
 * from the snapshot, binds are recorded in `writes` (and seen by later reads of the same message).
 */
export function snapshotBindings(snapshot: PatientSnapshot, writes: PatientWrite[]): {
  boundTo(weakToken: string): string[] | undefined;
  bind(weakToken: string, strongTokens: readonly string[]): void;
} {
  const local = new Map(snapshot.bindings);
  return {
    boundTo: (w) => local.get(w),
    bind: (w, strong) => {
      if (local.get(w) !== undefined) return;
      local.set(w, [...strong]);
      writes.push({ kind: 'bind', weakToken: w, strongTokens: [...strong] });
    },
  };
}

/**
 * Applies the writes a decision learned, in order. Returns false when a binding it assumed lost
 * a race (another message, on this node or another, bound the weak id to another identity first):
 * the decision rested on a fact that does not hold, and must be made again on a new view.
 */
export async function applyPatientWrites(facts: PatientFacts | undefined, writes: readonly PatientWrite[]): Promise<boolean> {
  if (!facts) return true;
  let held = true;
  for (const w of writes) {
    if (w.kind === 'bind') {
      const inForce = await facts.bind(w.weakToken, w.strongTokens);
      if (inForce !== undefined && !sameTokens(inForce, w.strongTokens)) held = false;
    } else await facts.rememberBirthDate(w.tokens, w.birthDate);
  }
  return held;
}

const sameTokens = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((t) => b.includes(t));

/**
 * One message's view of a patient, read before its decision: the patient's tokens (weak ids
 * resolved against the bindings held now), their consents and remembered birth date. The
 * decision runs on it synchronously; what it learns is recorded in `writes`, applied at the
 * edge (applyPatientWrites) before the message is acknowledged.
 */
export interface PatientView {
  tokens: string[];
  consents: StoredConsent[];
  birthDate?: string;
  writes: PatientWrite[];
}

/**
 * Reads a PatientView: the weak ids' bindings first (they decide which tokens are the
 * patient's), then the consents and birth date of those tokens, in two round trips.
 */
export async function loadPatientView(
  store: Pick<ConsentStore, 'forTokens'>,
  facts: Pick<PatientFacts, 'boundTo' | 'birthDate'>,
  parts: { first?: string; strong: string[]; weak: string[]; other: string[] },
): Promise<PatientView> {
  const bound = await Promise.all(parts.weak.map(async (w) => [w, await facts.boundTo(w)] as const));
  const writes: PatientWrite[] = [];
  const tokens = resolvePatientTokens(parts, snapshotBindings({ consents: [], bindings: new Map(bound) }, writes));
  const [consents, birthDate] = await Promise.all([store.forTokens(tokens), facts.birthDate(tokens)]);
  return { tokens, consents, ...(birthDate !== undefined ? { birthDate } : {}), writes };
}
