/**
 * What ingest stores beside a message for later readers, and the parsers that read it
 * back: ItemContext (with each queue item, for the send-time re-check) and DecisionFacts
 * (with each destination outcome, for explanations). Both hold no PHI. A stored context
 * carries a version `v`; rows written before versioning (no `v`) read as version 1, and
 * a version this code does not know is refused, never guessed at.
 */
import { CATEGORIES, isPurposeOfUse, type Category, type Classification, type Coding, type DestinationOutcome, type PurposeOfUse } from '../model/index.js';

export const ITEM_CONTEXT_VERSION = 1;

/** Send-time context kept with each queue item: no PHI, enough to re-decide. */
export interface ItemContext {
  v: typeof ITEM_CONTEXT_VERSION;
  purpose: PurposeOfUse;
  source: string;
  classification: Omit<Classification, 'patient'>;
  consentRequired: boolean;
  policySha256: string;
  dataPeriod?: { start?: string; end?: string };
}

/** What the policy saw, without the patient: categories, labels, types, identifiable, age (90+ capped). */
export interface DecisionFacts {
  categories: Category[];
  labels: Coding[];
  resourceTypes: string[];
  identifiable: boolean;
  ageYears: number | null;
}

/** A stored destination outcome with the facts it was decided on (absent on rows without them). */
export type StoredOutcome = DestinationOutcome & { facts?: DecisionFacts };

/** A stored value that cannot be read: names the field at fault, never its value. */
export class StoredContextError extends Error {
  override name = 'StoredContextError';
}

export const factsOf = (c: Classification): DecisionFacts => ({
  categories: c.categories,
  labels: c.labels.map((l) => ({ system: l.system, code: l.code })),
  resourceTypes: c.resourceTypes,
  identifiable: c.identifiable,
  ageYears: c.ageYears === null ? null : Math.min(c.ageYears, 90),
});

/** The context stored with a queue item: the classification without its patient. */
export function itemContextOf(input: {
  purpose: PurposeOfUse;
  source: string;
  classification: Classification;
  consentRequired: boolean;
  policySha256: string;
  dataPeriod?: { start?: string; end?: string };
}): ItemContext {
  // Who the data is about stays out of the stored context (it is kept in clear): patient and every identity found.
  const { patient: _patient, patients: _patients, ...classification } = input.classification;
  return {
    v: ITEM_CONTEXT_VERSION,
    purpose: input.purpose,
    source: input.source,
    classification,
    consentRequired: input.consentRequired,
    policySha256: input.policySha256,
    ...(input.dataPeriod ? { dataPeriod: input.dataPeriod } : {}),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isCategories = (v: unknown): v is Category[] => isStringArray(v) && v.every((x) => (CATEGORIES as readonly string[]).includes(x));

function fail(what: string, field: string): never {
  throw new StoredContextError(`${what}: field "${field}" is missing or malformed`);
}

function codings(v: unknown, what: string, field: string): Coding[] {
  if (!Array.isArray(v)) fail(what, field);
  return v.map((c) => {
    if (!isObject(c) || (c.system !== undefined && typeof c.system !== 'string') || (c.code !== undefined && typeof c.code !== 'string')) fail(what, field);
    return { ...(c.system !== undefined ? { system: c.system as string } : {}), ...(c.code !== undefined ? { code: c.code as string } : {}) };
  });
}

function ageOf(v: unknown, what: string, field: string): number | null {
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(what, field);
  return v;
}

function period(v: unknown, what: string): { start?: string; end?: string } | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || (v.start !== undefined && typeof v.start !== 'string') || (v.end !== undefined && typeof v.end !== 'string')) fail(what, 'dataPeriod');
  return { ...(v.start !== undefined ? { start: v.start as string } : {}), ...(v.end !== undefined ? { end: v.end as string } : {}) };
}

/**
 * Reads a queue item's stored context. Throws StoredContextError for text that is not
 * JSON, for a version this code does not know, and for a bad shape.
 */
export function parseItemContext(text: string): ItemContext {
  const what = 'stored item context';
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new StoredContextError(`${what}: not JSON`);
  }
  if (!isObject(raw)) throw new StoredContextError(`${what}: not an object`);
  // Rows queued before the context carried a version have the version-1 shape.
  const v = raw.v ?? ITEM_CONTEXT_VERSION;
  if (v !== ITEM_CONTEXT_VERSION) {
    throw new StoredContextError(`${what}: version ${typeof v === 'number' || typeof v === 'string' ? JSON.stringify(v).slice(0, 20) : '(not a number)'} is not known to this gateway (it reads version ${ITEM_CONTEXT_VERSION})`);
  }
  if (typeof raw.purpose !== 'string' || !isPurposeOfUse(raw.purpose)) fail(what, 'purpose');
  if (typeof raw.source !== 'string') fail(what, 'source');
  if (typeof raw.consentRequired !== 'boolean') fail(what, 'consentRequired');
  if (typeof raw.policySha256 !== 'string') fail(what, 'policySha256');
  const c = raw.classification;
  if (!isObject(c)) fail(what, 'classification');
  if (!isCategories(c.categories)) fail(what, 'classification.categories');
  if (!isStringArray(c.resourceTypes)) fail(what, 'classification.resourceTypes');
  if (typeof c.identifiable !== 'boolean') fail(what, 'classification.identifiable');
  const dataPeriod = period(raw.dataPeriod, what);
  return {
    v: ITEM_CONTEXT_VERSION,
    purpose: raw.purpose,
    source: raw.source,
    classification: {
      categories: c.categories,
      labels: codings(c.labels, what, 'classification.labels'),
      resourceTypes: c.resourceTypes,
      identifiable: c.identifiable,
      ageYears: ageOf(c.ageYears, what, 'classification.ageYears'),
    },
    consentRequired: raw.consentRequired,
    policySha256: raw.policySha256,
    ...(dataPeriod ? { dataPeriod } : {}),
  };
}

/** Reads DecisionFacts; undefined when absent, StoredContextError when malformed. */
export function parseDecisionFacts(v: unknown): DecisionFacts | undefined {
  const what = 'stored decision facts';
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) fail(what, 'facts');
  if (!isCategories(v.categories)) fail(what, 'categories');
  if (!isStringArray(v.resourceTypes)) fail(what, 'resourceTypes');
  if (typeof v.identifiable !== 'boolean') fail(what, 'identifiable');
  return {
    categories: v.categories,
    labels: codings(v.labels, what, 'labels'),
    resourceTypes: v.resourceTypes,
    identifiable: v.identifiable,
    ageYears: ageOf(v.ageYears, what, 'ageYears'),
  };
}

/** Reads a message's stored outcomes (the parsed `outcomes` JSON): one per destination. */
export function parseStoredOutcomes(v: unknown): StoredOutcome[] {
  const what = 'stored outcomes';
  if (!Array.isArray(v)) throw new StoredContextError(`${what}: not a list`);
  return v.map((o) => {
    if (!isObject(o) || typeof o.name !== 'string') fail(what, 'name');
    if (o.decision !== 'queued' && o.decision !== 'denied') fail(what, 'decision');
    if (!isStringArray(o.reasons)) fail(what, 'reasons');
    const facts = parseDecisionFacts(o.facts);
    const out: StoredOutcome = { name: o.name, decision: o.decision, reasons: o.reasons };
    if (isObject(o.policy) && typeof o.policy.sha256 === 'string') {
      out.policy = { id: String(o.policy.id ?? ''), version: String(o.policy.version ?? ''), sha256: o.policy.sha256 };
    }
    if (isStringArray(o.ruleIds)) out.ruleIds = o.ruleIds;
    if (isObject(o.consent) && (o.consent.effect === 'permit' || o.consent.effect === 'deny')) {
      out.consent = {
        ...(typeof o.consent.id === 'string' ? { id: o.consent.id } : {}),
        ...(typeof o.consent.version === 'string' ? { version: o.consent.version } : {}),
        effect: o.consent.effect,
      };
    }
    if (facts) out.facts = facts;
    return out;
  });
}
