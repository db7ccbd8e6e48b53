/**
 * HL7 v2 content read directly, not through the FHIR mapping (which leaves DG1, PR1,
 * AL1, NTE and Z-segments out): every coded field of every segment (CE/CWE/CNE triples
 * id^text^system and their alternates), OBX-5 values (coded, text, or encapsulated
 * base64), NTE notes, and the patient in PID.
 */
import { parseHl7, codeSystemUri, type ParsedHl7 } from '../hl7v2/index.js';
import { newFacts, type Facts } from './facts.js';
import { cnicOf } from './patient.js';
import { anyIdentity, identityInText } from './text.js';
import { lookupCoding } from './valuesets.js';
import { readBase64 } from './content.js';

/** Segments that carry patient identity. */
const PERSON_SEGMENTS = new Set(['PID', 'PD1', 'NK1', 'GT1', 'IN1', 'IN2', 'MRG']);
/** Segments whose presence is clinical content about a patient. */
const NON_CLINICAL_SEGMENTS = new Set(['MSH', 'EVN', 'MSA', 'ERR', 'SFT', 'UAC', 'BHS', 'BTS', 'FHS', 'FTS', 'QAK', 'QPD', 'RCP', 'DSC', 'ARV']);
/**
 * Free-text fields of understood segments (beyond NTE and OBX text values): relevant clinical
 * information on an order, a specimen's description, a document's title and change reason.
 */
const TEXT_FIELDS: Record<string, readonly number[]> = { OBR: [13], SPM: [14], TXA: [21, 25], SCH: [6, 7] };
/** Free-text codes written as an ICD-10 code ("Dx: B20", "f32.9") in notes and text results. */
const ICD_TOKEN = /\b([A-Za-z]\d{2}(?:\.\d{1,4}[A-Za-z]?)?)\b/g;
const ICD = 'http://hl7.org/fhir/sid/icd-10';

function readCodes(rep: string[][], facts: Facts) {
  const comp = (n: number) => rep[n - 1]?.[0] ?? '';
  // CE/CWE/CNE: 1 id, 2 text, 3 system; 4 alt id, 5 alt text, 6 alt system.
  for (const base of [1, 4]) {
    const code = comp(base);
    const sys = comp(base + 2);
    if (!code || !sys) continue;
    for (const hit of lookupCoding(codeSystemUri(sys), code)) {
      facts.categories.add(hit.category);
      facts.tags.add(hit.tag);
    }
  }
}

function readFreeText(text: string, facts: Facts) {
  const found = identityInText(text);
  facts.textCnics.push(...found.cnics);
  if (anyIdentity(found)) {
    facts.person = true;
    facts.reasons.add('an HL7 v2 note carries a person identifier');
  }
  for (const m of text.matchAll(ICD_TOKEN)) {
    for (const hit of lookupCoding(ICD, m[1])) {
      facts.categories.add(hit.category);
      facts.tags.add(hit.tag);
    }
  }
}

function readPid(seg: ParsedHl7['segments'][number], facts: Facts, cnicSystems: readonly string[]) {
  for (const rep of seg.reps(3)) {
    const value = rep[0]?.[0] ?? '';
    if (!value) continue;
    const authority = rep[3]?.join('&') ?? '';
    const type = rep[4]?.[0] ?? '';
    const c = cnicOf({ value, system: authority, type: { coding: [{ code: type }] } }, cnicSystems);
    if (c) facts.refIds.push(`cnic|${c}`);
    facts.refIds.push(`${authority}|${value}`);
  }
}

export interface V2Options {
  cnicSystems: readonly string[];
  /** Read FHIR JSON found in an encapsulated OBX-5 value (walk.ts; a hook to avoid a cycle). */
  readFhir?: (resource: unknown, facts: Facts, depth: number) => void;
}

/** Scan a parsed v2 message into `facts`. */
export function scanV2(msg: ParsedHl7, opts: V2Options, facts: Facts = newFacts(), depth = 0): Facts {
  // No resource type is added for the v2 message itself: types are FHIR names that consents
  // and policies match on (and audit entries carry); the mapped resources supply them.
  for (const seg of msg.segments) {
    if (!seg.name) continue;
    if (PERSON_SEGMENTS.has(seg.name)) {
      facts.person = true;
      facts.reasons.add(`HL7 v2 ${seg.name} segment identifies a person`);
    }
    if (!NON_CLINICAL_SEGMENTS.has(seg.name) && !PERSON_SEGMENTS.has(seg.name)) facts.clinical = true;
    if (seg.name === 'PID') readPid(seg, facts, opts.cnicSystems);
    if (seg.name === 'MSH') continue;
    const n = seg.fieldCount;
    const valueType = seg.name === 'OBX' ? seg.value(2) : '';
    for (let f = 1; f <= n; f++) {
      const reps = seg.reps(f);
      for (const rep of reps) readCodes(rep, facts);
      if (
        seg.name === 'NTE' ||
        (seg.name === 'OBX' && f === 5 && /^(ST|TX|FT)$/.test(valueType)) ||
        (TEXT_FIELDS[seg.name]?.includes(f) && reps.length) ||
        (!/^[A-Y]/.test(seg.name) && reps.length)
      ) {
        // Notes, text results, text fields and Z-segments: free text that may name the patient or a diagnosis.
        readFreeText(reps.map((r) => r.map((c) => c.join(' ')).join(' ')).join(' '), facts);
      }
      if (seg.name === 'OBX' && f === 5 && valueType === 'ED') {
        for (const rep of reps) readEncapsulated(rep, facts, opts, depth);
      }
    }
  }
  return facts;
}

/** OBX-5 of type ED: source^type^subtype^encoding^data. */
function readEncapsulated(rep: string[][], facts: Facts, opts: V2Options, depth: number) {
  const encoding = (rep[3]?.[0] ?? '').toUpperCase();
  const data = rep[4]?.[0] ?? '';
  if (!data) return;
  if (encoding !== 'BASE64' && encoding !== 'A') {
    facts.opaque = true;
    facts.reasons.add('an HL7 v2 encapsulated value could not be read (opaque)');
    return;
  }
  const c = encoding === 'A' ? ({ kind: 'text', text: data } as const) : readBase64(data);
  if (c.kind === 'fhir' && opts.readFhir) opts.readFhir(c.resource, facts, depth + 1);
  else if (c.kind === 'text') readFreeText(c.text, facts);
  else if (c.kind === 'hl7v2') scanV2Text(c.text, opts, facts, depth + 1);
  else {
    facts.opaque = true;
    facts.reasons.add('an HL7 v2 encapsulated value could not be read (opaque)');
  }
}

/** Parse and scan v2 text; a message that does not parse is opaque. */
export function scanV2Text(text: string, opts: V2Options, facts: Facts = newFacts(), depth = 0): Facts {
  let msg: ParsedHl7;
  try {
    msg = parseHl7(text);
  } catch {
    facts.opaque = true;
    facts.reasons.add('HL7 v2 content could not be parsed (opaque)');
    // Still look for identity in the raw text: unknown structure is no reason to miss a CNIC.
    readFreeText(text, facts);
    return facts;
  }
  return scanV2(msg, opts, facts, depth);
}
