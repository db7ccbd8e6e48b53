/**
 * Patient id strings: the one normalisation shared by the consent registry and
 * classification, so that a consent and a message about the same patient yield
 * the same strings, and so the same tokens (tokenize(string)).
 *
 * - A reference "Patient/123", "Patient/123/_history/2", "https://host/fhir/Patient/123"
 *   or a bare id "123" gives "Patient/123" (an absolute URL also gives itself, without _history).
 * - "urn:uuid:…" / "urn:oid:…" references give themselves, lower-cased.
 * - An identifier gives "system|value" (system and value trimmed; no system → "|value").
 *   A CNIC (classification's cnicOf: a dashed #####-#######-# value, or 13 digits under a CNIC/NADRA
 *   system or national-id type) is written with dashes, and also gives the alias "cnic|#####-#######-#",
 *   the same alias classification adds, so a consent filed under any CNIC system finds the patient.
 * Anything else (a reference to another resource type, empty values) gives nothing.
 *
 * Strong and weak ids. A CNIC, or an identifier with its system (an MRN with its assigner), names
 * one person wherever it comes from: it is strong. A bare local resource id ("Patient/123") or an
 * identifier without a system ("|77") means something only at the source that sent it: it is weak,
 * and is namespaced by that source before it is tokenized, so "Patient/123" at one sender never
 * meets "Patient/123" at another (scopeIds). Identifier systems and values with control characters
 * are refused, so no identifier can spell a namespaced id.
 */
import { cnicOf } from '../classify/index.js';

export interface IdentifierLike {
  system?: unknown;
  value?: unknown;
  type?: unknown;
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

function cnic(identifier: IdentifierLike, value: string): string | undefined {
  return cnicOf({
    value,
    ...(typeof identifier.system === 'string' ? { system: identifier.system.trim() } : {}),
    ...(identifier.type && typeof identifier.type === 'object' ? { type: identifier.type as { coding?: { code?: string }[] } } : {}),
  });
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Normalises one identifier to "system|value" (a CNIC value dashed); undefined when it has no value. */
export function normalizeIdentifier(identifier: IdentifierLike): string | undefined {
  if (typeof identifier?.value !== 'string' || identifier.value.trim() === '') return undefined;
  const system = typeof identifier.system === 'string' ? identifier.system.trim() : '';
  if (CONTROL.test(identifier.value) || CONTROL.test(system)) return undefined;
  const value = identifier.value.trim();
  return `${system}|${cnic(identifier, value) ?? value}`;
}

/** The id strings of one identifier: "system|value", plus "cnic|#####-#######-#" for a CNIC. */
function identifierStrings(identifier: IdentifierLike): string[] {
  const s = normalizeIdentifier(identifier);
  if (!s) return [];
  const c = cnic(identifier, (identifier.value as string).trim());
  return c && !s.startsWith('cnic|') ? [s, `cnic|${c}`] : [s];
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
  for (const id of ids) if (id && typeof id === 'object') out.push(...identifierStrings(id));
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
      out.push(...identifierStrings({ system: raw.slice(0, i), value: raw.slice(i + 1) }));
    }
  }
  return [...new Set(out)];
}

/** The source a weak id is namespaced by when the caller names none (plain HTTP on the LAN). */
export const DEFAULT_SOURCE = 'lan';
const SCOPE_MARK = '\u0001';

/** A CNIC, or an identifier with a system (normalised form). */
export function isStrongId(id: string): boolean {
  if (id.startsWith(SCOPE_MARK)) return false;
  const bar = id.indexOf('|');
  return bar > 0 && id.slice(bar + 1) !== '';
}

/** A local reference ("Patient/123") or an identifier without a system ("|77"): meaningful only at its source. */
export function isWeakId(id: string): boolean {
  return id.startsWith('|') || /^Patient\/[^/]+$/.test(id);
}

/** Weak ids namespaced by their source; others unchanged. Input: normalised id strings. */
export function scopeIds(ids: readonly string[], source: string = DEFAULT_SOURCE): string[] {
  return ids.map((id) => (isWeakId(id) ? `${SCOPE_MARK}${source}${SCOPE_MARK}${id}` : id));
}

/** Patient tokens for a set of id strings (normalised, weak ones namespaced by `source`), deduplicated. */
export function tokensForIds(ids: readonly string[], tokenize: (id: string) => string, source: string = DEFAULT_SOURCE): string[] {
  return [...new Set(scopeIds(normalizePatientIdStrings(ids), source).map(tokenize))];
}

/** A patient's tokens split by kind: strong (CNIC, system|value) and the rest (namespaced weak, urn:uuid, absolute URLs). */
export function tokensByKind(
  ids: readonly string[],
  tokenize: (id: string) => string,
  source: string = DEFAULT_SOURCE,
): { strong: string[]; weak: string[]; other: string[] } {
  const norm = normalizePatientIdStrings(ids);
  const strong = [...new Set(norm.filter(isStrongId).map(tokenize))];
  const weak = [...new Set(scopeIds(norm.filter(isWeakId), source).map(tokenize))];
  const other = [...new Set(norm.filter((i) => !isStrongId(i) && !isWeakId(i)).map(tokenize))];
  return { strong, weak, other };
}

/**
 * Why these ids cannot all be one patient, or undefined: two different values under one
 * identifier system (two CNICs, two MRNs from one assigner). Such a message matches no
 * consent: whose consent would apply is unknown. No id appears in the reason.
 */
export function identityConflict(ids: readonly string[]): string | undefined {
  const bySystem = new Map<string, string>();
  for (const id of normalizePatientIdStrings(ids)) {
    if (!isStrongId(id)) continue;
    const bar = id.indexOf('|');
    const system = id.slice(0, bar);
    const value = id.slice(bar + 1);
    const seen = bySystem.get(system);
    if (seen !== undefined && seen !== value) {
      return system === 'cnic'
        ? 'the message names more than one CNIC for its patient, so no consent can be matched to it'
        : 'the message names two different identifiers from one assigner for its patient, so no consent can be matched to it';
    }
    bySystem.set(system, value);
  }
  return undefined;
}
