/**
 * One pass over a FHIR resource, whatever its shape: nested Bundles at any depth,
 * contained resources, Parameters, resources inside attachments and Binary (base64
 * decoded and recognised), narrative, and every Coding at any depth (extensions too).
 * Iterative, so a deeply nested message cannot overflow the stack.
 */
import { SYSTEMS, type Coding, type FhirResource } from '../model/index.js';
import { readBase64 } from './content.js';
import { NON_CLINICAL_TYPES, newFacts, type Facts } from './facts.js';
import { TAG_CATEGORY } from './labels.js';
import { cnicOf, identityOfPatient, type Identifier } from './patient.js';
import { anyIdentity, displayNamesPerson, identityInText } from './text.js';
import { lookupCoding } from './valuesets.js';

/** How many attachments-inside-attachments we open before calling the rest opaque. */
export const MAX_DECODE_DEPTH = 4;

export interface WalkOptions {
  cnicSystems: readonly string[];
  /** Read HL7 v2 text found in an attachment (v2.ts provides it; kept as a hook to avoid a cycle). */
  readV2?: (text: string, facts: Facts, depth: number) => void;
}

/** Fields through which a resource points at the person it is about. */
const PATIENT_FIELDS = new Set(['subject', 'patient', 'beneficiary', 'individual', 'who', 'focus']);
const NOT_A_PATIENT = /^(?:.*\/)?(Group|Device|Location|Organization|Practitioner|PractitionerRole|Medication|Substance|HealthcareService|Endpoint)\/[^/]+/;
const A_PERSON = /(?:^|\/)(Patient|Person|RelatedPerson)\/[^/]+/;

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function readReference(ref: Record<string, unknown>, fromPatientField: boolean, facts: Facts, cnicSystems: readonly string[]) {
  const r = ref.reference;
  if (typeof r === 'string' && r) {
    if (A_PERSON.test(r) || (fromPatientField && !NOT_A_PATIENT.test(r))) facts.refIds.push(r);
  }
  if (!fromPatientField) return;
  const id = ref.identifier;
  if (isObj(id) && typeof id.value === 'string' && id.value) {
    const c = cnicOf(id as Identifier, cnicSystems);
    if (c) facts.refIds.push(`cnic|${c}`);
    facts.refIds.push(`${typeof id.system === 'string' ? id.system : ''}|${id.value}`);
  }
  const d = ref.display;
  if (typeof d === 'string' && d.trim() && !(typeof r === 'string' && NOT_A_PATIENT.test(r))) {
    const found = identityInText(d);
    facts.textCnics.push(...found.cnics);
    if (displayNamesPerson(d)) {
      facts.person = true;
      facts.reasons.add('a reference display names or identifies a person');
    }
  }
}

function readSecurity(meta: unknown, facts: Facts) {
  if (!isObj(meta) || !Array.isArray(meta.security)) return;
  for (const c of meta.security) if (isObj(c)) facts.security.push(c as Coding);
}

function readNarrative(text: unknown, clinical: boolean, facts: Facts) {
  if (!isObj(text) || typeof text.div !== 'string') return;
  const found = identityInText(text.div.replace(/<[^>]*>/g, ' '));
  facts.textCnics.push(...found.cnics);
  // Directory resources (Organization, Practitioner) have phones and names of staff; only a CNIC counts there.
  if (found.cnics.length || (clinical && anyIdentity(found))) {
    facts.person = true;
    facts.reasons.add('narrative carries a person identifier');
  }
}

function readCoding(o: Record<string, unknown>, facts: Facts) {
  const code = o.code;
  if (typeof code !== 'string' || !code) return;
  const system = typeof o.system === 'string' ? o.system : undefined;
  if (system === undefined) {
    // Only a plain Coding without a system is read this way (not Quantity, not any object with a code).
    for (const k in o) if (k !== 'code' && k !== 'display' && k !== 'version' && k !== 'userSelected' && k !== 'id' && k !== 'extension') return;
  }
  if (system === SYSTEMS.actCode) {
    const cat = TAG_CATEGORY[code.trim().toUpperCase()];
    if (cat) {
      facts.categories.add(cat);
      facts.tags.add(code.trim().toUpperCase());
    }
  }
  for (const hit of lookupCoding(system, code)) {
    facts.categories.add(hit.category);
    facts.tags.add(hit.tag);
  }
}

/** Base64 content (Attachment.data, Binary.data): open it, or call it opaque. */
function readData(data: string, depth: number, facts: Facts, push: (node: unknown, depth: number) => void, opts: WalkOptions) {
  if (depth >= MAX_DECODE_DEPTH) {
    facts.opaque = true;
    facts.reasons.add('attachments nested too deep to read (opaque)');
    return;
  }
  const c = readBase64(data);
  switch (c.kind) {
    case 'fhir':
      facts.reasons.add('an attachment holds FHIR content, read as part of the message');
      push(c.resource, depth + 1);
      return;
    case 'hl7v2':
      facts.reasons.add('an attachment holds HL7 v2 content, read as part of the message');
      if (opts.readV2) opts.readV2(c.text, facts, depth + 1);
      else facts.opaque = true;
      return;
    case 'text': {
      const found = identityInText(c.text);
      facts.textCnics.push(...found.cnics);
      if (anyIdentity(found)) {
        facts.person = true;
        facts.reasons.add('an attachment text carries a person identifier');
      }
      return;
    }
    case 'opaque':
      facts.opaque = true;
      facts.reasons.add(`an attachment could not be read (${c.why}): opaque`);
  }
}

const isSignatureOrSamples = (o: Record<string, unknown>) => 'sigFormat' in o || 'targetFormat' in o || 'dimensions' in o || 'origin' in o;

/** Walk one FHIR resource (and all it holds) into `facts`. */
export function walkFhir(root: unknown, opts: WalkOptions, facts: Facts = newFacts(), startDepth = 0): Facts {
  // Each stack item: the node, its decode depth, whether it sits in a patient field, the nearest resource's clinical flag.
  const stack: Array<[unknown, number, boolean, boolean]> = [[root, startDepth, false, true]];
  const push = (node: unknown, depth: number) => stack.push([node, depth, false, true]);
  while (stack.length) {
    const [node, depth, inPatientField, clinicalHere] = stack.pop()!;
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) {
        const v = node[i];
        if (v !== null && typeof v === 'object') stack.push([v, depth, inPatientField, clinicalHere]);
      }
      continue;
    }
    if (!isObj(node)) continue;
    let clinical = clinicalHere;
    const rt = node.resourceType;
    if (typeof rt === 'string') {
      facts.resourceTypes.add(rt);
      clinical = !NON_CLINICAL_TYPES.has(rt);
      if (clinical) facts.clinical = true;
      readSecurity(node.meta, facts);
      readNarrative(node.text, clinical, facts);
      if (rt === 'Patient' || rt === 'Person') {
        const p = identityOfPatient(node as FhirResource, undefined, opts.cnicSystems, rt);
        if (!facts.patients.some((q) => q.key === p.key)) facts.patients.push(p);
        facts.person = true;
      } else if (rt === 'RelatedPerson') {
        facts.person = true;
        facts.reasons.add('a RelatedPerson is present');
      }
      if (rt === 'Binary' && typeof node.data === 'string') readData(node.data, depth, facts, push, opts);
    } else {
      if (inPatientField || 'reference' in node) readReference(node, inPatientField, facts, opts.cnicSystems);
      if ('code' in node) readCoding(node, facts);
      if (typeof node.data === 'string' && !isSignatureOrSamples(node)) readData(node.data, depth, facts, push, opts);
    }
    const keys = Object.keys(node);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i];
      if (k === 'div' || k === 'data') continue;
      const v = node[k];
      if (v === null || typeof v !== 'object') continue;
      stack.push([v, depth, PATIENT_FIELDS.has(k) && typeof rt === 'string', clinical]);
    }
  }
  return facts;
}
