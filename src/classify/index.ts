/**
 * Classification: who the data is about, what kind of data it is, and which security
 * labels it must carry. Pure: the same resource and clock give the same answer.
 *
 * Categories come from clinical codes (ICD-10, SNOMED CT, LOINC value sets shipped in
 * ./valuesets) and from sensitivity labels already on the data. Effective labels follow
 * regulation.md req. 1: identifiable clinical data is confidentiality N; data in a
 * sensitive category is raised to R with its sensitivity tag; labels already present are
 * kept and never lowered (req. 15).
 */
import {
  CATEGORIES,
  SYSTEMS,
  type Category,
  type Classification,
  type Coding,
  type FhirResource,
  type PatientIdentity,
} from '../model/index.js';
import {
  CATEGORY_TAGS,
  TAG_CATEGORY,
  confidentiality,
  confidentialityRank,
  isConfidentiality,
  isDeidentifiedMark,
  mergeLabels,
  sensitivity,
} from './labels.js';
import { DEFAULT_CNIC_SYSTEMS, ageInYears, identityOfPatient, patientRefsOf } from './patient.js';
import { lookupCode } from './valuesets.js';

export { applyLabels, mergeLabels, isKnownLabel, confidentialityRank, CONFIDENTIALITY_ORDER, CATEGORY_TAGS } from './labels.js';
export { cnicOf, ageInYears, DEFAULT_CNIC_SYSTEMS } from './patient.js';
export { lookupCode, VALUE_SETS } from './valuesets.js';

export interface ClassifyOptions {
  /** Decision time, for the patient's age. Default: new Date(). */
  now?: Date;
  /** Identifier systems that carry a CNIC (in addition to the dashed-format rule). */
  cnicSystems?: string[];
}

export interface EntryClassification {
  index: number;
  fullUrl?: string;
  resourceType: string;
  classification: Classification;
}

/** What one resource says about itself: codes, tags and labels found inside it. */
interface Scan {
  categories: Set<Category>;
  tags: Set<string>;
  security: Coding[];
  /** The resource's own top-level meta.security marks it de-identified. */
  marked: boolean;
  /** Confidentiality above L found anywhere (contradicts a de-identified mark). */
  aboveL: boolean;
}

const newScan = (): Scan => ({ categories: new Set(), tags: new Set(), security: [], marked: false, aboveL: false });

/** Keys whose values never hold clinical codes worth reading (narrative, attachments). */
const SKIP_KEYS = new Set(['text', 'meta', 'data', 'div', 'request', 'response', 'search']);

function readSecurity(resource: FhirResource, scan: Scan, top: boolean) {
  const sec = resource.meta?.security;
  if (!Array.isArray(sec)) return;
  for (const c of sec) {
    if (!c || typeof c !== 'object') continue;
    scan.security.push(c);
    if (isDeidentifiedMark(c) && top) scan.marked = true;
    if (isConfidentiality(c) && confidentialityRank(c.code) > confidentialityRank('L')) scan.aboveL = true;
    if (c.system === SYSTEMS.actCode && c.code && TAG_CATEGORY[c.code]) {
      scan.categories.add(TAG_CATEGORY[c.code]);
      scan.tags.add(c.code);
    }
  }
}

/** Walk one resource (not its Bundle entries) for codings; iterative, no recursion limit. */
function scanResource(resource: FhirResource, scan: Scan, top: boolean) {
  readSecurity(resource, scan, top);
  const stack: unknown[] = [resource];
  while (stack.length) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const v of node) if (v !== null && typeof v === 'object') stack.push(v);
      continue;
    }
    const o = node as Record<string, unknown>;
    if (typeof o.system === 'string' && typeof o.code === 'string') {
      for (const hit of lookupCode(o.system, o.code)) {
        scan.categories.add(hit.category);
        scan.tags.add(hit.tag);
      }
    }
    for (const k in o) {
      if (SKIP_KEYS.has(k)) continue;
      const v = o[k];
      if (v === null || typeof v !== 'object') continue;
      if (k === 'contained' && Array.isArray(v)) {
        for (const c of v) if (c && typeof c === 'object') readSecurity(c as FhirResource, scan, false);
      }
      stack.push(v);
    }
  }
}

interface BundleEntry {
  fullUrl?: string;
  resource?: FhirResource;
}

const entriesOf = (r: FhirResource): BundleEntry[] =>
  r.resourceType === 'Bundle' && Array.isArray(r.entry) ? (r.entry as BundleEntry[]) : [];

const isResource = (r: unknown): r is FhirResource =>
  !!r && typeof r === 'object' && typeof (r as FhirResource).resourceType === 'string';

/** Patient identity of a resource or Bundle (first Patient wins; then references). */
function findPatient(resource: FhirResource, cnicSystems: readonly string[]): PatientIdentity | null {
  if (resource.resourceType === 'Patient') return identityOfPatient(resource, undefined, cnicSystems);
  const entries = entriesOf(resource);
  for (const e of entries) {
    if (isResource(e?.resource) && e.resource.resourceType === 'Patient') {
      return identityOfPatient(e.resource, typeof e.fullUrl === 'string' ? e.fullUrl : undefined, cnicSystems);
    }
  }
  const refs: string[] = [];
  const pool = entries.length ? entries.map((e) => e?.resource).filter(isResource) : [resource];
  for (const r of pool) refs.push(...patientRefsOf(r, cnicSystems));
  if (!refs.length) return null;
  const ids = [...new Set(refs)];
  const key = ids.find((i) => i.startsWith('cnic|')) ?? ids[0];
  return { key, ids };
}

/** Labels, categories and identifiability from one scan. */
function finish(
  scan: Scan,
  patient: PatientIdentity | null,
  resourceTypes: string[],
  now: Date,
  refersToPatient: boolean,
): Classification {
  const identifiable = patient !== null && refersToPatient && !(scan.marked && !scan.aboveL);
  const categories = CATEGORIES.filter((c) => scan.categories.has(c));
  const derived: Coding[] = [];
  if (identifiable) derived.push(confidentiality(categories.length ? 'R' : 'N'));
  const tags = new Set<string>(scan.tags);
  for (const c of categories) if (![...tags].some((t) => TAG_CATEGORY[t] === c)) tags.add(CATEGORY_TAGS[c][0]);
  for (const t of tags) derived.push(sensitivity(t));
  return {
    patient,
    ageYears: ageInYears(patient?.birthDate, now),
    categories,
    labels: mergeLabels(scan.security, derived),
    resourceTypes,
    identifiable,
  };
}

/** Classify a resource or Bundle as one message. */
export function classify(resource: FhirResource, opts: ClassifyOptions = {}): Classification {
  const now = opts.now ?? new Date();
  const cnicSystems = opts.cnicSystems ? [...DEFAULT_CNIC_SYSTEMS, ...opts.cnicSystems] : DEFAULT_CNIC_SYSTEMS;
  const scan = newScan();
  const types = new Set<string>([resource.resourceType]);
  scanResource(resource, scan, true);
  for (const e of entriesOf(resource)) {
    if (!isResource(e?.resource)) continue;
    types.add(e.resource.resourceType);
    scanResource(e.resource, scan, false);
  }
  const patient = findPatient(resource, cnicSystems);
  return finish(scan, patient, [...types].sort(), now, true);
}

/**
 * Classify each entry of a Bundle on its own (the bundle's patient is the context), so
 * the pipeline can name the entry responsible for a denial. One item per Bundle.entry, in
 * order (index-aligned, also for an entry without a resource). An entry that neither is a
 * Patient nor points at one (Organization, Practitioner, Location) is not identifiable.
 * A de-identified mark on the Bundle itself applies to every entry.
 */
export function classifyEntries(bundle: FhirResource, opts: ClassifyOptions = {}): EntryClassification[] {
  const now = opts.now ?? new Date();
  const cnicSystems = opts.cnicSystems ? [...DEFAULT_CNIC_SYSTEMS, ...opts.cnicSystems] : DEFAULT_CNIC_SYSTEMS;
  const patient = findPatient(bundle, cnicSystems);
  const bundleScan = newScan();
  readSecurity(bundle, bundleScan, true);
  const out: EntryClassification[] = [];
  entriesOf(bundle).forEach((e, index) => {
    if (!isResource(e?.resource)) {
      // Keep the list index-aligned with Bundle.entry: an entry without a resource carries no data.
      out.push({
        index,
        ...(typeof e?.fullUrl === 'string' ? { fullUrl: e.fullUrl } : {}),
        resourceType: '(none)',
        classification: { patient, ageYears: ageInYears(patient?.birthDate, now), categories: [], labels: [...bundleScan.security], resourceTypes: [], identifiable: false },
      });
      return;
    }
    const r = e.resource;
    const scan = newScan();
    scan.marked = bundleScan.marked;
    scan.security.push(...bundleScan.security);
    for (const c of bundleScan.categories) scan.categories.add(c);
    for (const t of bundleScan.tags) scan.tags.add(t);
    scanResource(r, scan, true);
    const refersToPatient = r.resourceType === 'Patient' || patientRefsOf(r, cnicSystems).length > 0;
    out.push({
      index,
      ...(typeof e.fullUrl === 'string' ? { fullUrl: e.fullUrl } : {}),
      resourceType: r.resourceType,
      classification: finish(scan, patient, [r.resourceType], now, refersToPatient),
    });
  });
  return out;
}
