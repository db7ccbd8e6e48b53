/**
 * Patient id strings: the one normalisation shared by the consent registry and
 * classification, so that a consent and a message about the same patient yield
 * the same strings, and so the same tokens (tokenize(string)).
 *
 * - A reference "Patient/123", "Patient/123/_history/2", "https://host/fhir/Patient/123"
 *   or a bare id "123" gives "Patient/123" (an absolute URL also gives itself, without _history).
 * - "urn:uuid:…" / "urn:oid:…" references give themselves, lower-cased.
 * - An identifier gives "system|value" (system and value trimmed; no system → "|value").
 *   CNIC values (system urn:oid:2.16.586.1.1 or "cnic") are written with dashes: 12345-1234567-1.
 * Anything else (a reference to another resource type, empty values) gives nothing.
 */
import { SYSTEMS } from '../model/index.js';

export interface IdentifierLike {
  system?: unknown;
  value?: unknown;
}
export interface PatientRefLike {
  reference?: unknown;
  identifier?: IdentifierLike | IdentifierLike[];
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const PATIENT_REF = /^(?:(.*)\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Normalises one reference string; [] when it does not name a patient. */
export function normalizePatientReference(reference: string): string[] {
  const ref = reference.trim();
  if (ref === '') return [];
  if (/^urn:(uuid|oid):/i.test(ref)) return [ref.toLowerCase()];
  if (FHIR_ID.test(ref)) return [`Patient/${ref}`];
  const m = PATIENT_REF.exec(ref);
  if (!m) return [];
  const local = `Patient/${m[2]}`;
  if (m[1] && /^https?:\/\//i.test(m[1])) return [local, `${m[1]}/${local}`];
  if (m[1]) return [];
  return [local];
}

function normalizeCnic(value: string): string {
  const digits = value.replace(/[\s-]/g, '');
  return /^\d{13}$/.test(digits) ? `${digits.slice(0, 5)}-${digits.slice(5, 12)}-${digits.slice(12)}` : value;
}

/** Normalises one identifier to "system|value"; undefined when it has no value. */
export function normalizeIdentifier(identifier: IdentifierLike): string | undefined {
  if (typeof identifier?.value !== 'string' || identifier.value.trim() === '') return undefined;
  const system = typeof identifier.system === 'string' ? identifier.system.trim() : '';
  let value = identifier.value.trim();
  if (system === SYSTEMS.cnic || system.toLowerCase() === 'cnic') value = normalizeCnic(value);
  return `${system}|${value}`;
}

/**
 * Every id string for a patient reference (Consent.patient, a subject, a search value).
 * Deduplicated, in a stable order.
 */
export function patientIdStrings(ref: PatientRefLike | null | undefined): string[] {
  const out: string[] = [];
  if (!ref || typeof ref !== 'object') return out;
  if (typeof ref.reference === 'string') out.push(...normalizePatientReference(ref.reference));
  const ids = ref.identifier === undefined ? [] : Array.isArray(ref.identifier) ? ref.identifier : [ref.identifier];
  for (const id of ids) {
    const s = normalizeIdentifier(id);
    if (s) out.push(s);
  }
  return [...new Set(out)];
}

/**
 * Normalises already-formed id strings (e.g. PatientIdentity.ids): strings with a "|" are identifiers
 * ("system|value", through normalizeIdentifier), others references (normalizePatientReference).
 */
export function normalizePatientIdStrings(ids: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of ids) {
    if (!raw.includes('|')) out.push(...normalizePatientReference(raw));
    else {
      const i = raw.indexOf('|');
      const s = normalizeIdentifier({ system: raw.slice(0, i), value: raw.slice(i + 1) });
      if (s) out.push(s);
    }
  }
  return [...new Set(out)];
}

/** Patient tokens for a set of id strings (normalised first), deduplicated. */
export function tokensForIds(ids: readonly string[], tokenize: (id: string) => string): string[] {
  return [...new Set(normalizePatientIdStrings(ids).map(tokenize))];
}
