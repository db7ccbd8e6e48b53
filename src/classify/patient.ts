/**
 * Finding the patient a message is about: Patient resources first, then subject /
 * patient references. CNICs (Pakistan's national identity number, soon the national
 * medical-record number) are recognised and normalised to #####-#######-#.
 */
import { SYSTEMS, type FhirResource, type PatientIdentity } from '../model/index.js';
import { normalizeText } from './text.js';

export const DEFAULT_CNIC_SYSTEMS: readonly string[] = [
  SYSTEMS.cnic,
  'http://nadra.gov.pk/cnic',
  'https://nadra.gov.pk/cnic',
  'http://nadra.gov.pk/fhir/sid/cnic',
];

// Dashes or single spaces between the groups (after normalising odd dashes, spaces and digits).
const CNIC_DASHED = /^(\d{5})[- ](\d{7})[- ](\d)$/;
const CNIC_BARE = /^\d{13}$/;
/** Identifier type codes (v2-0203 and national variants) that mean a national identity number. */
const NATIONAL_ID_TYPES = new Set(['NI', 'NNPAK', 'NNPK', 'CNIC']);

export interface Identifier {
  system?: string;
  value?: string;
  type?: { coding?: Array<{ code?: string }> };
}

/**
 * The CNIC in an identifier, normalised, or undefined. A dashed #####-#######-# value is
 * always a CNIC; 13 bare digits only when the system or type says it is a national id
 * (13 digits alone could be many things).
 */
export function cnicOf(id: Identifier, cnicSystems: readonly string[] = DEFAULT_CNIC_SYSTEMS): string | undefined {
  const value = typeof id.value === 'string' ? normalizeText(id.value).trim() : '';
  if (!value) return undefined;
  const dashed = CNIC_DASHED.exec(value);
  if (dashed) return `${dashed[1]}-${dashed[2]}-${dashed[3]}`;
  if (!CNIC_BARE.test(value)) return undefined;
  const sys = (id.system ?? '').toLowerCase();
  const typed = (id.type?.coding ?? []).some((c) => c.code !== undefined && NATIONAL_ID_TYPES.has(c.code));
  if (cnicSystems.includes(id.system ?? '') || typed || sys.includes('cnic') || sys.includes('nadra')) {
    return `${value.slice(0, 5)}-${value.slice(5, 12)}-${value.slice(12)}`;
  }
  return undefined;
}

const isMrn = (id: Identifier) => (id.type?.coding ?? []).some((c) => c.code === 'MR');

/** Collect the identity of one Patient (or Person) resource. */
export function identityOfPatient(
  patient: FhirResource,
  fullUrl: string | undefined,
  cnicSystems: readonly string[],
  resourceType: 'Patient' | 'Person' = 'Patient',
): PatientIdentity {
  const ids: string[] = [];
  let cnic: string | undefined;
  let mrn: string | undefined;
  let first: string | undefined;
  const identifiers = Array.isArray(patient.identifier) ? (patient.identifier as Identifier[]) : [];
  for (const id of identifiers) {
    if (!id || typeof id !== 'object' || typeof id.value !== 'string') continue;
    const c = cnicOf(id, cnicSystems);
    if (c) {
      cnic ??= `cnic|${c}`;
      ids.push(`cnic|${c}`);
    }
    const key = `${id.system ?? ''}|${id.value}`;
    ids.push(key);
    first ??= key;
    if (isMrn(id)) mrn ??= key;
  }
  const ref = typeof patient.id === 'string' ? `${resourceType}/${patient.id}` : undefined;
  if (ref) ids.push(ref);
  if (fullUrl) ids.push(fullUrl);
  const key = cnic ?? mrn ?? first ?? ref ?? fullUrl ?? `${resourceType}/(anonymous)`;
  const birthDate = typeof patient.birthDate === 'string' ? patient.birthDate : undefined;
  return { key, ids: [...new Set(ids)], ...(birthDate ? { birthDate } : {}) };
}

/** Fields through which clinical resources point at their patient. */
export const PATIENT_REFERENCE_FIELDS = ['subject', 'patient', 'beneficiary'] as const;

/** The patient references (or reference identifiers) of one resource. */
export function patientRefsOf(resource: FhirResource, cnicSystems: readonly string[]): string[] {
  const out: string[] = [];
  for (const field of PATIENT_REFERENCE_FIELDS) {
    const ref = resource[field] as { reference?: unknown; identifier?: Identifier } | undefined;
    if (!ref || typeof ref !== 'object') continue;
    if (typeof ref.reference === 'string') {
      // Group, Device, Location subjects are not patients.
      if (/^(Group|Device|Location|Organization|Practitioner)\//.test(ref.reference)) continue;
      out.push(ref.reference);
    }
    if (ref.identifier && typeof ref.identifier.value === 'string') {
      const c = cnicOf(ref.identifier, cnicSystems);
      if (c) out.push(`cnic|${c}`);
      out.push(`${ref.identifier.system ?? ''}|${ref.identifier.value}`);
    }
  }
  return out;
}

/**
 * Age in whole years at `now`. A partial birth date is read at the end of its period
 * (a birth year alone means 31 December), so a child is never made older than it is.
 */
export function ageInYears(birthDate: string | undefined, now: Date): number | null {
  if (!birthDate) return null;
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(birthDate);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) : 12;
  const d = m[3] ? Number(m[3]) : new Date(Date.UTC(y, mo, 0)).getUTCDate();
  let age = now.getUTCFullYear() - y;
  const nm = now.getUTCMonth() + 1;
  const nd = now.getUTCDate();
  if (nm < mo || (nm === mo && nd < d)) age--;
  return age < 0 ? 0 : age;
}
