/**
 * Classification: who the data is about, what kind of data it is, and which security
 * labels it must carry. Pure: the same content and clock give the same answer.
 *
 * Everything is computed from content (walk.ts, v2.ts), wherever it sits: nested
 * Bundles, contained resources, Parameters, attachments and Binary (decoded), narrative,
 * HL7 v2 segments the FHIR mapping leaves out. Identifiable clinical data is
 * confidentiality N; data in a sensitive category is raised to R with its sensitivity
 * tag; labels already present are kept and only ever raised; a sender's own
 * "de-identified" label never makes data non-identifiable (decide.ts).
 */
import type { Classification, FhirResource } from '../model/index.js';
import type { ParsedHl7 } from '../hl7v2/index.js';
import { decide } from './decide.js';
import { mergeFacts, newFacts, type Facts } from './facts.js';
import { DEFAULT_CNIC_SYSTEMS } from './patient.js';
import { scanV2, scanV2Text } from './v2.js';
import { walkFhir, type WalkOptions } from './walk.js';

export { applyLabels, mergeLabels, isKnownLabel, confidentialityRank, CONFIDENTIALITY_ORDER, CATEGORY_TAGS } from './labels.js';
export { cnicOf, ageInYears, DEFAULT_CNIC_SYSTEMS } from './patient.js';
export { lookupCode, lookupCoding, VALUE_SETS } from './valuesets.js';
export { identityInText, normalizeText } from './text.js';

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

/** FHIR and v2 readers that call each other for content nested in content. */
function readers(opts: ClassifyOptions): WalkOptions {
  const cnicSystems = opts.cnicSystems ? [...DEFAULT_CNIC_SYSTEMS, ...opts.cnicSystems] : DEFAULT_CNIC_SYSTEMS;
  const w: WalkOptions = { cnicSystems };
  const v2 = { cnicSystems, readFhir: (r: unknown, f: Facts, depth: number) => void walkFhir(r, w, f, depth) };
  w.readV2 = (text, f, depth) => void scanV2Text(text, v2, f, depth);
  return w;
}

const v2Options = (w: WalkOptions) => ({ cnicSystems: w.cnicSystems, readFhir: (r: unknown, f: Facts, depth: number) => void walkFhir(r, w, f, depth) });

/** Classify a resource or Bundle as one message. */
export function classify(resource: FhirResource, opts: ClassifyOptions = {}): Classification {
  return decide(walkFhir(resource, readers(opts)), opts.now ?? new Date());
}

/**
 * Classify an HL7 v2 message from its own segments (raw text or parsed): DG1, PR1, AL1,
 * OBX-3/OBX-5, NTE, Z-segments and PID. Text that does not parse is opaque (identifiable).
 */
export function classifyV2(v2: string | ParsedHl7, opts: ClassifyOptions = {}): Classification {
  const w = readers(opts);
  const facts = typeof v2 === 'string' ? scanV2Text(v2, v2Options(w)) : scanV2(v2, v2Options(w));
  return decide(facts, opts.now ?? new Date());
}

/**
 * Classify what ingress hands on: the FHIR content and, for HL7 v2 input, the original
 * text too. Both are read and their findings joined, so a code the mapping dropped
 * still counts.
 */
export function classifyMessage(msg: { resource: FhirResource; v2?: string }, opts: ClassifyOptions = {}): Classification {
  const w = readers(opts);
  const facts = walkFhir(msg.resource, w);
  if (typeof msg.v2 === 'string') mergeFacts(facts, scanV2Text(msg.v2, v2Options(w)));
  return decide(facts, opts.now ?? new Date());
}

interface BundleEntry {
  fullUrl?: string;
  resource?: FhirResource;
}

const isResource = (r: unknown): r is FhirResource =>
  !!r && typeof r === 'object' && typeof (r as FhirResource).resourceType === 'string';

/**
 * Classify each entry of a Bundle on its own (the bundle's patient is the context), so
 * the pipeline can name the entry responsible for a denial. One item per Bundle.entry, in
 * order (index-aligned, also for an entry without a resource). An entry that holds
 * neither a person nor clinical data (Organization, Practitioner, Location) is not
 * identifiable; labels on the Bundle itself apply to every entry (raise only).
 */
export function classifyEntries(bundle: FhirResource, opts: ClassifyOptions = {}): EntryClassification[] {
  const now = opts.now ?? new Date();
  const w = readers(opts);
  if (bundle.resourceType !== 'Bundle' || !Array.isArray(bundle.entry)) return [];
  const whole = decide(walkFhir(bundle, w), now);
  const bundleSecurity = Array.isArray(bundle.meta?.security) ? bundle.meta.security.filter((c) => c && typeof c === 'object') : [];
  return (bundle.entry as BundleEntry[]).map((e, index) => {
    const fullUrl = typeof e?.fullUrl === 'string' ? { fullUrl: e.fullUrl } : {};
    if (!isResource(e?.resource)) {
      const empty = newFacts();
      empty.security.push(...bundleSecurity);
      const c = decide(empty, now);
      return { index, ...fullUrl, resourceType: '(none)', classification: { ...c, patient: whole.patient, ageYears: whole.ageYears } };
    }
    const facts = walkFhir(e.resource, w);
    facts.security.push(...bundleSecurity);
    const c = decide(facts, now);
    // The entry's patient is the bundle's patient when the entry does not name its own.
    const patient = c.patient && facts.patients.length ? c.patient : (whole.patient ?? c.patient);
    return {
      index,
      ...fullUrl,
      resourceType: e.resource.resourceType,
      classification: { ...c, patient, ageYears: whole.ageYears ?? c.ageYears },
    };
  });
}
