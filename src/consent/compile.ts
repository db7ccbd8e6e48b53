/**
 * Validates a FHIR R4 Consent and compiles it once into the form evaluation reads
 * (CompiledConsent). Every problem throws ConsentValidationError naming the element
 * (e.g. "Consent.provision.provision[0].period.start") — never echoing its value,
 * which may be PHI.
 */
import type { Category, FhirResource } from '../model/index.js';
import { patientIdStrings } from './ids.js';
import { categoryOfCode } from './labels.js';
import { compilePeriod, DEFAULT_TIMEZONE, parseFhirDateTime, type CompiledPeriod } from './time.js';
import {
  CONSENT_STATUSES,
  type CompiledActor,
  type CompiledConsent,
  type CompiledProvision,
  type ConsentStatus,
} from './types.js';

/** Thrown for a Consent that cannot be accepted; `element` is the FHIRPath of the offending element. */
export class ConsentValidationError extends Error {
  override name = 'ConsentValidationError';
  constructor(
    /** FHIRPath of the element at fault, e.g. "Consent.provision.provision[0].period.start". */
    readonly element: string,
    /** The problem in plain words, without the element (message = "element: problem"). */
    readonly problem: string,
  ) {
    super(`${element}: ${problem}`);
  }
}

/** Explicit limits (DESIGN promise 7). */
export const MAX_PROVISION_DEPTH = 16;
export const MAX_PROVISIONS = 1000;

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** One shared empty array for the many empty lists of compiled provisions (hundreds of thousands are cached). */
const NONE: never[] = Object.freeze([]) as unknown as never[];

const CONSENT_KEYS = new Set([
  'resourceType', 'id', 'meta', 'implicitRules', 'language', 'text', 'contained', 'extension', 'modifierExtension',
  'identifier', 'status', 'scope', 'category', 'patient', 'dateTime', 'performer', 'organization',
  'sourceAttachment', 'sourceReference', 'policy', 'policyRule', 'verification', 'provision',
]);
const PROVISION_KEYS = new Set([
  'id', 'extension', 'modifierExtension', 'type', 'period', 'actor', 'action', 'securityLabel', 'purpose',
  'class', 'code', 'dataPeriod', 'data', 'provision',
]);
const PERIOD_KEYS = new Set(['id', 'extension', 'start', 'end']);
const ACTOR_KEYS = new Set(['id', 'extension', 'modifierExtension', 'role', 'reference']);
const DATA_KEYS = new Set(['id', 'extension', 'modifierExtension', 'meaning', 'reference']);
const DATA_MEANINGS = new Set(['instance', 'related', 'dependents', 'authoredby']);
/** policyRule codes (v3-ActCode) that give the base rule when the root provision has no type. */
const POLICY_RULE_BASE: Record<string, 'permit' | 'deny'> = {
  OPTIN: 'deny',
  OPTINR: 'deny',
  OPTOUT: 'permit',
  OPTOUTE: 'permit',
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(element: string, message: string): never {
  throw new ConsentValidationError(element, message);
}

function noModifiers(obj: Json, path: string): void {
  if (obj.modifierExtension !== undefined) {
    if (!Array.isArray(obj.modifierExtension)) fail(`${path}.modifierExtension`, 'must be an array');
    if (obj.modifierExtension.length > 0) {
      fail(`${path}.modifierExtension`, 'modifier extensions change meaning and are not understood here');
    }
  }
}

function onlyKeys(obj: Json, allowed: Set<string>, path: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.has(k)) fail(`${path}.${k}`, 'is not an element of R4 Consent here');
  }
}

function arrayOf(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, 'must be an array');
  if (value.length === 0) fail(path, 'must not be empty (FHIR arrays are never empty)');
  return value;
}

function codingCode(value: unknown, path: string): { system?: string; code: string } {
  if (!isObject(value)) fail(path, 'must be a Coding');
  if (typeof value.code !== 'string' || value.code.trim() === '') fail(`${path}.code`, 'is required');
  if (value.system !== undefined && typeof value.system !== 'string') fail(`${path}.system`, 'must be a string');
  return value.system === undefined ? { code: value.code.trim() } : { system: value.system, code: value.code.trim() };
}

function conceptCodes(value: unknown, path: string, required = false): string[] {
  if (!isObject(value)) fail(path, 'must be a CodeableConcept');
  const codes: string[] = [];
  if (value.coding !== undefined) {
    arrayOf(value.coding, `${path}.coding`).forEach((c, i) => codes.push(codingCode(c, `${path}.coding[${i}]`).code));
  }
  if (value.text !== undefined && typeof value.text !== 'string') fail(`${path}.text`, 'must be a string');
  if (required && codes.length === 0) fail(`${path}.coding`, 'needs at least one code');
  return codes;
}

function reference(value: unknown, path: string): Json {
  if (!isObject(value)) fail(path, 'must be a Reference');
  for (const k of ['reference', 'type', 'display'] as const) {
    if (value[k] !== undefined && typeof value[k] !== 'string') fail(`${path}.${k}`, 'must be a string');
  }
  if (value.identifier !== undefined && !isObject(value.identifier)) fail(`${path}.identifier`, 'must be an Identifier');
  if (value.reference === undefined && value.identifier === undefined && value.display === undefined) {
    fail(path, 'needs a reference, identifier or display');
  }
  return value;
}

function period(value: unknown, path: string, timezone: string): CompiledPeriod {
  if (!isObject(value)) fail(path, 'must be a Period');
  onlyKeys(value, PERIOD_KEYS, path);
  const p = compilePeriod(value, timezone);
  if ('error' in p) {
    if (p.error === 'order') fail(`${path}.start`, 'is after the end');
    fail(`${path}.${p.error}`, 'must be a FHIR dateTime (a time needs a timezone offset)');
  }
  return p;
}

const ORG_REF = /^(?:.*\/)?Organization\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/;

function actor(value: unknown, path: string): CompiledActor {
  if (!isObject(value)) fail(path, 'must be an object');
  onlyKeys(value, ACTOR_KEYS, path);
  noModifiers(value, path);
  if (value.reference === undefined) fail(`${path}.reference`, 'is required');
  const ref = reference(value.reference, `${path}.reference`);
  let references: string[] = NONE;
  if (typeof ref.reference === 'string') {
    const m = ORG_REF.exec(ref.reference.trim());
    references = [m ? `Organization/${m[1]}` : ref.reference.trim()];
  }
  const ident = ref.identifier as Json | undefined;
  const identifierValues: string[] = ident && typeof ident.value === 'string' ? [ident.value.trim()] : NONE;
  const roles = value.role === undefined ? NONE : conceptCodes(value.role, `${path}.role`);
  return {
    references,
    identifierValues,
    ...(typeof ref.display === 'string' ? { display: ref.display.trim().toLowerCase() } : {}),
    roles,
  };
}

const DATA_REF = /^(?:.*\/)?([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/;

/** "https://h/fhir/Observation/1/_history/2" → "Observation/1"; urn references unchanged. */
export function normalizeDataReference(ref: string): string {
  const m = DATA_REF.exec(ref.trim());
  return m ? m[1]! : ref.trim().toLowerCase();
}

interface Budget {
  count: number;
}

function provision(
  value: unknown,
  path: string,
  outPath: string,
  depth: number,
  budget: Budget,
  timezone: string,
  baseType: 'permit' | 'deny' | undefined,
): CompiledProvision {
  if (!isObject(value)) fail(path, 'must be an object');
  if (depth > MAX_PROVISION_DEPTH) fail(path, `nests deeper than ${MAX_PROVISION_DEPTH} levels`);
  if (++budget.count > MAX_PROVISIONS) fail(path, `more than ${MAX_PROVISIONS} provisions in one Consent`);
  onlyKeys(value, PROVISION_KEYS, path);
  noModifiers(value, path);

  let type: 'permit' | 'deny';
  if (value.type === undefined) {
    if (depth > 0 || baseType === undefined) {
      fail(`${path}.type`, depth > 0 ? 'is required in nested provisions' : 'is required (or a policyRule OPTIN/OPTOUT)');
    }
    type = baseType;
  } else if (value.type === 'permit' || value.type === 'deny') type = value.type;
  else fail(`${path}.type`, 'must be permit or deny');

  const out: CompiledProvision = { path: outPath, type, namesCategories: NONE, children: NONE };
  const names = new Set<Category>();
  const note = (code: string) => {
    const c = categoryOfCode(code);
    if (c) names.add(c);
  };

  if (value.period !== undefined) out.period = period(value.period, `${path}.period`, timezone);
  if (value.dataPeriod !== undefined) out.dataPeriod = period(value.dataPeriod, `${path}.dataPeriod`, timezone);
  if (value.actor !== undefined) {
    out.actors = arrayOf(value.actor, `${path}.actor`).map((a, i) => actor(a, `${path}.actor[${i}]`));
  }
  if (value.action !== undefined) {
    out.actions = arrayOf(value.action, `${path}.action`).flatMap((a, i) => conceptCodes(a, `${path}.action[${i}]`, true));
  }
  if (value.securityLabel !== undefined) {
    out.labels = arrayOf(value.securityLabel, `${path}.securityLabel`).map((c, i) =>
      codingCode(c, `${path}.securityLabel[${i}]`),
    );
    out.labels.forEach((l) => note(l.code));
  }
  if (value.purpose !== undefined) {
    out.purposes = arrayOf(value.purpose, `${path}.purpose`).map((c, i) => codingCode(c, `${path}.purpose[${i}]`).code);
  }
  if (value.class !== undefined) {
    out.classes = arrayOf(value.class, `${path}.class`).map((c, i) => codingCode(c, `${path}.class[${i}]`).code);
    out.classes.forEach(note);
  }
  if (value.code !== undefined) {
    out.codes = arrayOf(value.code, `${path}.code`).flatMap((c, i) => conceptCodes(c, `${path}.code[${i}]`, true));
    out.codes.forEach(note);
  }
  if (value.data !== undefined) {
    out.data = arrayOf(value.data, `${path}.data`).map((d, i) => {
      const p = `${path}.data[${i}]`;
      if (!isObject(d)) fail(p, 'must be an object');
      onlyKeys(d, DATA_KEYS, p);
      noModifiers(d, p);
      if (typeof d.meaning !== 'string' || !DATA_MEANINGS.has(d.meaning)) {
        fail(`${p}.meaning`, 'must be instance, related, dependents or authoredby');
      }
      const r = reference(d.reference, `${p}.reference`);
      if (typeof r.reference !== 'string') fail(`${p}.reference.reference`, 'is required');
      return normalizeDataReference(r.reference);
    });
  }
  if (names.size > 0) out.namesCategories = [...names];
  if (value.provision !== undefined) {
    out.children = arrayOf(value.provision, `${path}.provision`).map((c, i) =>
      provision(c, `${path}.provision[${i}]`, `${outPath}.provision[${i}]`, depth + 1, budget, timezone, undefined),
    );
  }
  return out;
}

export interface CompileOptions {
  /** Zone for date-only values; default Asia/Karachi. */
  timezone?: string;
  /** Registry-assigned id and version (override the resource's). */
  id?: string;
  version?: number;
}

/** Validates a Consent; returns the resource typed. Throws ConsentValidationError. */
export function validateConsent(resource: unknown, options: CompileOptions = {}): FhirResource {
  compileConsent(resource, options);
  return resource as FhirResource;
}

/** Validates and compiles a Consent (pure). Throws ConsentValidationError naming the element. */
export function compileConsent(resource: unknown, options: CompileOptions = {}): CompiledConsent {
  const timezone = options.timezone ?? DEFAULT_TIMEZONE;
  if (!isObject(resource)) fail('Consent', 'must be a JSON object');
  if (resource.resourceType !== 'Consent') fail('Consent.resourceType', 'must be "Consent"');
  onlyKeys(resource, CONSENT_KEYS, 'Consent');
  noModifiers(resource, 'Consent');
  if (resource.id !== undefined && (typeof resource.id !== 'string' || !FHIR_ID.test(resource.id))) {
    fail('Consent.id', 'must be a FHIR id (1-64 of A-Z a-z 0-9 - .)');
  }
  if (resource.meta !== undefined && !isObject(resource.meta)) fail('Consent.meta', 'must be an object');
  if (typeof resource.status !== 'string' || !(CONSENT_STATUSES as readonly string[]).includes(resource.status)) {
    fail('Consent.status', `must be one of ${CONSENT_STATUSES.join(', ')}`);
  }
  if (resource.scope === undefined) fail('Consent.scope', 'is required');
  const scopes = conceptCodes(resource.scope, 'Consent.scope', true);
  if (resource.category === undefined) fail('Consent.category', 'is required');
  arrayOf(resource.category, 'Consent.category').forEach((c, i) => conceptCodes(c, `Consent.category[${i}]`));
  if (resource.patient === undefined) fail('Consent.patient', 'is required');
  const patient = reference(resource.patient, 'Consent.patient');
  if (patient.identifier !== undefined && typeof (patient.identifier as Json).value !== 'string') {
    fail('Consent.patient.identifier.value', 'is required');
  }
  if (patientIdStrings(patient as { reference?: unknown }).length === 0) {
    fail('Consent.patient', 'needs a Patient reference or an identifier');
  }
  if (resource.dateTime !== undefined && !parseFhirDateTime(resource.dateTime, timezone)) {
    fail('Consent.dateTime', 'must be a FHIR dateTime (a time needs a timezone offset)');
  }
  let guardianPerformer = false;
  if (resource.performer !== undefined) {
    const contained = Array.isArray(resource.contained) ? (resource.contained as Json[]) : [];
    arrayOf(resource.performer, 'Consent.performer').forEach((p, i) => {
      const r = reference(p, `Consent.performer[${i}]`);
      const ref = typeof r.reference === 'string' ? r.reference : '';
      const local = ref.startsWith('#') ? contained.find((c) => isObject(c) && c.id === ref.slice(1)) : undefined;
      if (r.type === 'RelatedPerson' || /(^|\/)RelatedPerson\//.test(ref) || local?.resourceType === 'RelatedPerson') {
        guardianPerformer = true;
      }
    });
  }
  if (resource.organization !== undefined) {
    arrayOf(resource.organization, 'Consent.organization').forEach((o, i) => reference(o, `Consent.organization[${i}]`));
  }
  let baseType: 'permit' | 'deny' | undefined;
  if (resource.policyRule !== undefined) {
    for (const code of conceptCodes(resource.policyRule, 'Consent.policyRule')) {
      baseType ??= POLICY_RULE_BASE[code];
    }
  }
  const root =
    resource.provision === undefined
      ? baseType === undefined
        ? fail('Consent.provision', 'is required (or a policyRule OPTIN/OPTOUT)')
        : ({ path: 'provision', type: baseType, namesCategories: NONE, children: NONE } as CompiledProvision)
      : provision(resource.provision, 'Consent.provision', 'provision', 0, { count: 0 }, timezone, baseType);
  const version = options.version ?? Number((resource.meta as Json | undefined)?.versionId ?? 1);
  return {
    id: options.id ?? (resource.id as string | undefined) ?? '',
    version: Number.isFinite(version) ? version : 1,
    status: resource.status as ConsentStatus,
    scopes,
    guardianPerformer,
    root,
  };
}
