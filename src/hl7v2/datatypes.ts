/**
 * HL7 v2 data types → FHIR R4 data types, after the HL7 v2-to-FHIR IG's
 * datatype maps (CX→Identifier, XPN→HumanName, XAD→Address, XTN→ContactPoint,
 * CWE/CE→CodeableConcept, DTM/TS→dateTime). Inputs are decoded components
 * (string[][]: component → subcomponents) as Hl7Seg.reps() returns them.
 */
import { SYSTEMS } from '../model/index.js';
import { zoneOffsetMinutes } from '../consent/index.js';

export type Comps = string[][];

export const c = (rep: Comps | undefined, i: number, s = 1): string => rep?.[i - 1]?.[s - 1]?.trim() ?? '';

/** Coding-system names of HL7 table 0396 we translate to FHIR URIs. */
export const CODE_SYSTEMS: Record<string, string> = {
  LN: 'http://loinc.org',
  LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  'I10C': 'http://hl7.org/fhir/sid/icd-10-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  UCUM: 'http://unitsofmeasure.org',
  CPT: 'http://www.ama-assn.org/go/cpt',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  MVX: 'http://terminology.hl7.org/CodeSystem/MVX',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  NCIT: 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl',
  HL70078: 'http://terminology.hl7.org/CodeSystem/v2-0078',
  HL70203: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  HL70074: 'http://terminology.hl7.org/CodeSystem/v2-0074',
};

export function codeSystemUri(name: string): string | undefined {
  if (!name) return undefined;
  const known = CODE_SYSTEMS[name.toUpperCase()];
  if (known) return known;
  if (/^HL7\d{4}$/i.test(name)) return `http://terminology.hl7.org/CodeSystem/v2-${name.slice(3)}`;
  if (/^\d+(\.\d+)+$/.test(name)) return `urn:oid:${name}`;
  return `urn:darwaza:hl7v2:codesystem:${encodeURIComponent(name)}`;
}

export interface CodeableConcept {
  coding?: { system?: string; code?: string; display?: string }[];
  text?: string;
}

/** CWE/CE: id^text^system^altId^altText^altSystem (…^originalText in CWE.9). */
export function toCodeableConcept(rep: Comps | undefined): CodeableConcept | undefined {
  if (!rep) return undefined;
  const coding: NonNullable<CodeableConcept['coding']> = [];
  for (const base of [1, 4]) {
    const code = c(rep, base);
    const display = c(rep, base + 1);
    const system = codeSystemUri(c(rep, base + 2));
    if (code) coding.push({ ...(system ? { system } : {}), code, ...(display ? { display } : {}) });
  }
  const text = c(rep, 9) || (coding.length === 0 ? c(rep, 2) : '');
  if (coding.length === 0 && !text) return undefined;
  return { ...(coding.length ? { coding } : {}), ...(text ? { text } : {}) };
}

export interface DateOptions {
  /**
   * Zone used when a v2 time has no offset (FHIR requires one when a time is given): a fixed
   * offset (+05:00, +0500, Z) or an IANA name (Asia/Karachi), whose offset at that local time is used.
   */
  defaultTimezone: string;
}

/** The ±hh:mm (or Z) of `zone` at local wall time y-mo-d hh:mi:ss. */
function offsetOf(zone: string, wall: { y: number; mo: number; d: number; hh: number; mi: number; ss: number }): string {
  if (zone === 'Z' || zone === 'UTC' || zone === '+0000') return 'Z';
  if (/^[+-]\d{2}:\d{2}$/.test(zone)) return zone;
  if (/^[+-]\d{4}$/.test(zone)) return `${zone.slice(0, 3)}:${zone.slice(3)}`;
  // A named zone: its offset at this wall time (two passes settle a time next to a DST change).
  const guess = Date.UTC(wall.y, wall.mo - 1, wall.d, wall.hh, wall.mi, wall.ss);
  let off = zoneOffsetMinutes(zone, guess);
  off = zoneOffsetMinutes(zone, guess - off * 60_000);
  if (off === 0) return 'Z';
  const abs = Math.abs(off);
  return `${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * DTM/TS (YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]) → FHIR dateTime, keeping the
 * precision given. Returns undefined for malformed values.
 */
export function toDateTime(v: string, opts: DateOptions): string | undefined {
  const m = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(\.\d{1,4})?)?([+-]\d{4})?$/.exec(v.trim());
  if (!m) return undefined;
  const [, y, mo, d, hh, mi, ss, frac, tz] = m;
  if (mo && (+mo < 1 || +mo > 12)) return undefined;
  if (d && (+d < 1 || +d > 31)) return undefined;
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  if (!hh) return `${y}-${mo}-${d}`;
  const z = offsetOf(tz ?? opts.defaultTimezone, { y: +y, mo: +mo, d: +d, hh: +hh, mi: +(mi ?? 0), ss: +(ss ?? 0) });
  return `${y}-${mo}-${d}T${hh}:${mi ?? '00'}:${ss ?? '00'}${frac ?? ''}${z}`;
}

/** DT / birth date → FHIR date (YYYY, YYYY-MM or YYYY-MM-DD). */
export function toDate(v: string): string | undefined {
  const dt = toDateTime(v.trim().slice(0, 8), { defaultTimezone: 'Z' });
  return dt;
}

/** A CNIC: 13 digits, written plain or as #####-#######-#. Returns the dashed form. */
export function normalizeCnic(v: string): string | null {
  const m = /^(\d{5})-?(\d{7})-?(\d)$/.exec(v.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : null;
}

export interface Identifier {
  use?: string;
  type?: CodeableConcept;
  system?: string;
  value?: string;
  assigner?: { display: string };
}

export interface IdentifierOptions {
  /** Assigning-authority namespace (CX.4.1, upper-cased) → FHIR system URI. */
  identifierSystems?: Record<string, string>;
  /** System for a recognised CNIC (default SYSTEMS.cnic; classify may configure another). */
  cnicSystem?: string;
}

const CNIC_AUTHORITIES = new Set(['NADRA', 'CNIC', 'PAK-NADRA', 'NADRA-PK']);
const CNIC_TYPES = new Set(['NNPAK', 'CNIC']);

/**
 * CX (id^check^scheme^authority(HD)^type^facility…) → Identifier. The system is
 * the configured one for the authority's namespace, else urn:oid:/urn:uuid:/URI
 * from HD.2/HD.3, else urn:darwaza:hl7v2:authority:<namespace>. A CNIC (authority
 * NADRA/CNIC or type NNPAK, 13 digits) gets SYSTEMS.cnic and the dashed form.
 */
export function toIdentifier(rep: Comps, opts: IdentifierOptions = {}): Identifier | undefined {
  const value = c(rep, 1);
  if (!value) return undefined;
  const ns = c(rep, 4, 1);
  const uid = c(rep, 4, 2);
  const uidType = c(rep, 4, 3).toUpperCase();
  const typeCode = c(rep, 5);
  const nsKey = ns.toUpperCase();
  const type = typeCode
    ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: typeCode }] }
    : undefined;
  const isCnicAuthority = CNIC_AUTHORITIES.has(nsKey) || CNIC_TYPES.has(typeCode.toUpperCase());
  const cnic = isCnicAuthority ? normalizeCnic(value) : null;
  if (cnic) {
    return {
      use: 'official',
      type: type ?? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NI' }], text: 'CNIC' },
      system: opts.cnicSystem ?? SYSTEMS.cnic,
      value: cnic,
      assigner: { display: ns || 'NADRA' },
    };
  }
  let system: string | undefined = opts.identifierSystems?.[nsKey];
  if (!system && uid) {
    if (uidType === 'ISO' || /^\d+(\.\d+)+$/.test(uid)) system = `urn:oid:${uid}`;
    else if (uidType === 'UUID') system = `urn:uuid:${uid}`;
    else if (uidType === 'URI' || /^[a-z]+:/.test(uid)) system = uid;
  }
  if (!system && ns) system = `urn:darwaza:hl7v2:authority:${encodeURIComponent(ns)}`;
  return {
    ...(type ? { type } : {}),
    ...(system ? { system } : {}),
    value,
    ...(ns ? { assigner: { display: ns } } : {}),
  };
}

const NAME_USE: Record<string, string> = {
  L: 'official',
  D: 'usual',
  A: 'usual',
  M: 'maiden',
  N: 'nickname',
  S: 'anonymous',
  B: 'old',
  BAD: 'old',
  C: 'official',
  T: 'usual',
};

/** XPN (family&…^given^middle^suffix^prefix^degree^type) → HumanName. */
export function toHumanName(rep: Comps): Record<string, unknown> | undefined {
  const family = c(rep, 1, 1);
  const given = [c(rep, 2), c(rep, 3)].filter(Boolean);
  const suffix = c(rep, 4);
  const prefix = c(rep, 5);
  if (!family && given.length === 0) return undefined;
  const use = NAME_USE[c(rep, 7).toUpperCase()];
  return {
    ...(use ? { use } : {}),
    ...(family ? { family } : {}),
    ...(given.length ? { given } : {}),
    ...(prefix ? { prefix: [prefix] } : {}),
    ...(suffix ? { suffix: [suffix] } : {}),
  };
}

const ADDRESS_USE: Record<string, { use?: string; type?: string }> = {
  H: { use: 'home' },
  B: { use: 'work' },
  O: { use: 'work' },
  C: { use: 'temp' },
  BA: { use: 'old' },
  M: { type: 'postal' },
  P: { type: 'physical' },
};

/** XAD (street&…^other^city^state^zip^country^type) → Address. */
export function toAddress(rep: Comps): Record<string, unknown> | undefined {
  const line = [c(rep, 1, 1), c(rep, 2)].filter(Boolean);
  const city = c(rep, 3);
  const state = c(rep, 4);
  const postalCode = c(rep, 5);
  const country = c(rep, 6);
  if (!line.length && !city && !state && !postalCode && !country) return undefined;
  const kind = ADDRESS_USE[c(rep, 7).toUpperCase()] ?? {};
  return {
    ...kind,
    ...(line.length ? { line } : {}),
    ...(city ? { city } : {}),
    ...(state ? { state } : {}),
    ...(postalCode ? { postalCode } : {}),
    ...(country ? { country } : {}),
  };
}

const TELECOM_USE: Record<string, string> = { PRN: 'home', ORN: 'home', WPN: 'work', VHN: 'home', ASN: 'temp', EMR: 'temp' };

/** XTN (old-number^use^equipment^email^country^area^local^ext^…^unformatted) → ContactPoint. */
export function toContactPoint(rep: Comps, defaultUse?: string): Record<string, unknown> | undefined {
  const equip = c(rep, 3).toUpperCase();
  const email = c(rep, 4);
  const built = [c(rep, 5) ? `+${c(rep, 5)}` : '', c(rep, 6), c(rep, 7)].filter(Boolean).join(' ');
  const ext = c(rep, 8);
  const value = equip === 'INTERNET' || equip === 'X.400' ? email || c(rep, 1) : c(rep, 12) || built || c(rep, 1) || email;
  if (!value) return undefined;
  const system =
    equip === 'INTERNET' || equip === 'X.400' ? 'email' : equip === 'FX' ? 'fax' : equip === 'BP' ? 'pager' : email && !built && !c(rep, 1) ? 'email' : 'phone';
  const use = equip === 'CP' ? 'mobile' : TELECOM_USE[c(rep, 2).toUpperCase()] ?? defaultUse;
  return { system, value: ext ? `${value} x${ext}` : value, ...(use ? { use } : {}) };
}
