/**
 * FHIR security labels: the codes we know, their order, and the one rule that
 * matters here — labels only go up (docs/regulation.md requirement 15). Merging never removes a
 * label and never replaces a confidentiality code with a lower one.
 */
import { SYSTEMS, type Category, type Coding, type FhirResource } from '../model/index.js';

/** Confidentiality codes from lowest to highest (v3-Confidentiality). */
export const CONFIDENTIALITY_ORDER = ['U', 'L', 'M', 'N', 'R', 'V'] as const;
export type ConfidentialityCode = (typeof CONFIDENTIALITY_ORDER)[number];

/** Sensitivity tags (v3-ActCode) that classification derives from a category. */
export const CATEGORY_TAGS: Record<Category, readonly string[]> = {
  'mental-health': ['PSY'],
  'substance-use': ['ETH'],
  'hiv-sti': ['HIV', 'STD'],
  'sexual-reproductive': ['SEX'],
  violence: ['SDV'],
  genetics: ['GDIS'],
};

/** Sensitivity codes found on incoming data, and the category each one means. */
export const TAG_CATEGORY: Record<string, Category> = {
  PSY: 'mental-health',
  BH: 'mental-health',
  MH: 'mental-health',
  PSYTHPN: 'mental-health',
  ETH: 'substance-use',
  SUD: 'substance-use',
  OPIOIDUD: 'substance-use',
  HIV: 'hiv-sti',
  STD: 'hiv-sti',
  SEX: 'sexual-reproductive',
  SDV: 'violence',
  GDIS: 'genetics',
};

/** Obligation codes (v3-ActCode ObligationPolicy / RefrainPolicy) we may add or meet. */
export const OBLIGATION_CODES = [
  'NORDSCLCDS', // no redisclosure without information subject's consent directive
  'NORDSCLCD', // no redisclosure without consent directive
  'NODSCLCDS',
  'NODSCLCD',
  'NOREUSE',
  'NORELINK',
  'DELAU',
  'ENCRYPT',
  'DEID',
  'PSEUD',
  'AUDIT',
] as const;

/** Integrity / de-identification markers (v3-ObservationValue). */
export const OBSERVATION_VALUE_CODES = [
  // alteration (what a de-identifier did): they restrict nothing, so they are safe to know
  'ABSTRED', 'AGGRED', 'ANONYED', 'MAPPED', 'MASKED', 'PSEUDED', 'REDACTED', 'SUBSETTED', 'SYNTAC', 'TRSLT', 'VERSIONED',
  // integrity and provenance
  'CRYTOHASH', 'DIGSIG', 'HRELIABLE', 'RELIABLE', 'UNCERTREL', 'UNRELIABLE', 'LEGAL', 'TRSTACCRD', 'TRSTAGRE',
] as const;

const CONF_RANK = new Map<string, number>(CONFIDENTIALITY_ORDER.map((c, i) => [c, i]));

export const confidentialityRank = (code: string | undefined): number =>
  code === undefined ? -1 : (CONF_RANK.get(code) ?? -1);

export const isConfidentiality = (c: Coding): boolean =>
  c.system === SYSTEMS.confidentiality && c.code !== undefined && CONF_RANK.has(c.code);

export const confidentiality = (code: ConfidentialityCode): Coding => ({ system: SYSTEMS.confidentiality, code });
export const sensitivity = (code: string): Coding => ({ system: SYSTEMS.actCode, code });

/** The label set "de-identified": confidentiality L and v3-ObservationValue ANONYED. */
export const isDeidentifiedMark = (c: Coding): boolean =>
  (c.system === SYSTEMS.confidentiality && c.code === 'L') ||
  (c.system === SYSTEMS.observationValue && c.code === 'ANONYED');

const KNOWN = new Map<string, Set<string> | null>([
  [SYSTEMS.confidentiality, new Set<string>(CONFIDENTIALITY_ORDER)],
  [SYSTEMS.actCode, new Set<string>([...Object.keys(TAG_CATEGORY), ...OBLIGATION_CODES])],
  [SYSTEMS.observationValue, new Set<string>(OBSERVATION_VALUE_CODES)],
  [SYSTEMS.purposeOfUse, null], // any purpose-of-use code is fine
]);

/** A label darwaza understands (system and code known). Unknown labels make policy deny. */
export function isKnownLabel(c: Coding): boolean {
  if (!c.system || !c.code) return false;
  if (!KNOWN.has(c.system)) return false;
  const codes = KNOWN.get(c.system);
  return codes === null || codes === undefined ? codes === null : codes.has(c.code);
}

const keyOf = (c: Coding) => `${c.system ?? ''}|${c.code ?? ''}`;

/**
 * Merge labels: the result holds every label of `existing` and `added`, with at most one
 * confidentiality code — the highest of both. Never lowers, never removes.
 */
export function mergeLabels(existing: readonly Coding[], added: readonly Coding[]): Coding[] {
  let conf: Coding | undefined;
  const others = new Map<string, Coding>();
  for (const c of [...existing, ...added]) {
    if (isConfidentiality(c)) {
      if (!conf || confidentialityRank(c.code) > confidentialityRank(conf.code)) conf = c;
      continue;
    }
    const k = keyOf(c);
    if (!others.has(k)) others.set(k, c);
  }
  return conf ? [conf, ...others.values()] : [...others.values()];
}

/** Labels on one resource after raising (a new meta, the resource unchanged if nothing changes). */
function raise(resource: FhirResource, labels: readonly Coding[]): FhirResource {
  const existing = resource.meta?.security ?? [];
  const merged = mergeLabels(existing, labels);
  return { ...resource, meta: { ...(resource.meta ?? {}), security: merged } };
}

/**
 * Raise meta.security on the resource and, for a Bundle, on each entry's resource.
 * Returns a new object (the input is not mutated); never lowers or removes a label.
 */
export function applyLabels(resource: FhirResource, labels: Coding[]): FhirResource {
  const top = raise(resource, labels);
  if (resource.resourceType === 'Bundle' && Array.isArray(resource.entry)) {
    top.entry = (resource.entry as Array<Record<string, unknown>>).map((e) => {
      const r = e?.resource as FhirResource | undefined;
      if (!r || typeof r !== 'object' || typeof r.resourceType !== 'string') return e;
      return { ...e, resource: raise(r, labels) };
    });
  }
  return top;
}
