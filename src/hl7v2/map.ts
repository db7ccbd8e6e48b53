/**
 * HL7 v2 → FHIR R4, after the HL7 v2-to-FHIR IG segment maps
 * (http://hl7.org/fhir/uv/v2mappings) for the fields we map: PID→Patient, PV1→Encounter,
 * OBR→DiagnosticReport, OBX→Observation here; orders, scheduling, documents and
 * immunisations in map-order.ts, map-appointment.ts, map-document.ts, map-immunization.ts.
 * Messages: MAPPED_MESSAGE_TYPES. The result is a Bundle ('collection' by default, or
 * 'message' with a MessageHeader) whose entries have deterministic urn:uuid fullUrls (a
 * retransmit maps identically) and reference the Patient; segments nobody maps or classifies
 * (Z-segments) are named in its meta.tag, so leaving them out of the FHIR form is never silent.
 * Pure: no clock, no I/O.
 */
import { createHash } from 'node:crypto';
import type { FhirResource } from '../model/index.js';
import { DEFAULT_TIMEZONE } from '../config/index.js';
import type { Hl7Seg, ParsedHl7 } from './parse.js';
import { compact, Invalid, type MapContext } from './map-context.js';
import { mapCondition, mapOrders } from './map-order.js';
import { mapAppointment } from './map-appointment.js';
import { DOCUMENT_EVENTS_WITH_CONTENT, mapDocument } from './map-document.js';
import { mapImmunizations } from './map-immunization.js';
import { v2Understanding } from './understood.js';
import {
  c,
  codeSystemUri,
  toAddress,
  toCodeableConcept,
  toContactPoint,
  toDate,
  toDateTime,
  toHumanName,
  toIdentifier,
  type Comps,
  type DateOptions,
  type IdentifierOptions,
} from './datatypes.js';

export const MAPPED_MESSAGE_TYPES = [
  'ADT^A01',
  'ADT^A04',
  'ADT^A08',
  'ADT^A03',
  'ORU^R01',
  'ORM^O01',
  'OML^O21',
  'SIU^S12',
  'SIU^S13',
  'SIU^S14',
  'SIU^S15',
  ...DOCUMENT_EVENTS_WITH_CONTENT.map((e) => `MDM^${e}` as const),
  'VXU^V04',
] as const;

/** System of the meta.tag naming a segment the FHIR form leaves out unread (a Z-segment, an unknown one). */
export const UNMAPPED_SEGMENT_TAG = 'urn:darwaza:hl7v2:segment-not-mapped';


export interface MapOptions extends IdentifierOptions {
  bundleType?: 'collection' | 'message';
  /** Zone for v2 times that carry no offset: an IANA name (config.timezone) or ±hh:mm. Default DEFAULT_TIMEZONE. */
  defaultTimezone?: string;
  /** Seed for the deterministic entry ids (default: MSH-3|MSH-4|MSH-10). */
  seed?: string;
}

export type MapResult =
  | { kind: 'mapped'; bundle: FhirResource }
  | { kind: 'unsupported'; reason: string }
  /** Supported type, but content we cannot map (missing PID, …). reason has no PHI. */
  | { kind: 'invalid'; reason: string; errorCode: string; location: string };

export function isMappedType(messageType: string): boolean {
  return (MAPPED_MESSAGE_TYPES as readonly string[]).includes(messageType);
}

/** Deterministic UUIDs (v4 layout) for one message: one hash of the seed, the entry number in the last group. */
function uuidMaker(seed: string): (n: number) => string {
  const h = createHash('sha256').update(seed).digest('hex');
  const prefix = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 24)}`;
  return (n) => prefix + n.toString(16).padStart(8, '0');
}

const ADMINISTRATIVE_GENDER: Record<string, string> = { M: 'male', F: 'female', O: 'other', A: 'other', N: 'other', U: 'unknown' };

const ENCOUNTER_CLASS: Record<string, { code: string; display: string }> = {
  E: { code: 'EMER', display: 'emergency' },
  I: { code: 'IMP', display: 'inpatient encounter' },
  B: { code: 'IMP', display: 'inpatient encounter' },
  O: { code: 'AMB', display: 'ambulatory' },
  R: { code: 'AMB', display: 'ambulatory' },
  C: { code: 'AMB', display: 'ambulatory' },
  P: { code: 'PRENC', display: 'pre-admission' },
};

const RESULT_STATUS: Record<string, string> = {
  O: 'registered',
  I: 'registered',
  S: 'partial',
  A: 'partial',
  R: 'partial',
  P: 'preliminary',
  C: 'corrected',
  F: 'final',
  X: 'cancelled',
};

const OBSERVATION_STATUS: Record<string, string> = {
  C: 'corrected',
  D: 'entered-in-error',
  W: 'entered-in-error',
  F: 'final',
  U: 'final',
  I: 'registered',
  R: 'preliminary',
  S: 'preliminary',
  P: 'preliminary',
  X: 'cancelled',
};

const COMPARATORS = new Set(['<', '<=', '>', '>=']);


/** Maps a parsed message; never throws for content problems (returns 'invalid'). */
export function mapToFhir(msg: ParsedHl7, opts: MapOptions = {}): MapResult {
  const type = msg.header.messageType;
  if (!isMappedType(type)) return { kind: 'unsupported', reason: `message type ${type || '(empty)'} is not mapped to FHIR` };
  try {
    return { kind: 'mapped', bundle: buildBundle(msg, opts) };
  } catch (err) {
    if (err instanceof Invalid) return { kind: 'invalid', reason: err.reason, errorCode: err.errorCode, location: err.location };
    throw err;
  }
}

function buildBundle(msg: ParsedHl7, opts: MapOptions): FhirResource {
  const h = msg.header;
  const seed = opts.seed ?? `${h.sendingApplication}|${h.sendingFacility}|${h.controlId}`;
  const uuid = uuidMaker(seed);
  let n = 0;
  const nextUrl = () => `urn:uuid:${uuid(n++)}`;
  const dates: DateOptions = { defaultTimezone: opts.defaultTimezone ?? DEFAULT_TIMEZONE };
  const entries: { fullUrl: string; resource: FhirResource }[] = [];

  const pid = msg.segment('PID');
  if (!pid) throw new Invalid('PID segment is missing', '100', 'PID');
  const patientUrl = nextUrl();
  entries.push({ fullUrl: patientUrl, resource: mapPatient(pid, opts, msg.all('NK1')) });
  const subject = { reference: patientUrl };

  let encounterRef: { reference: string } | undefined;
  const pv1 = msg.segment('PV1');
  if (pv1) {
    const url = nextUrl();
    entries.push({ fullUrl: url, resource: mapEncounter(pv1, h.messageType, subject, dates) });
    encounterRef = { reference: url };
  } else if (h.messageCode === 'ADT' && h.triggerEvent !== 'A08') {
    throw new Invalid('PV1 segment is missing', '100', 'PV1');
  }

  const ctx: MapContext = {
    msg,
    subject,
    ...(encounterRef ? { encounter: encounterRef } : {}),
    dates,
    add: (resource) => {
      const fullUrl = nextUrl();
      entries.push({ fullUrl, resource });
      return { reference: fullUrl };
    },
    observation: (obx, fallbackTime) => mapObservation(obx, subject, encounterRef, fallbackTime, dates),
  };

  if (h.messageType === 'ORU^R01') {
    const obrs = msg.all('OBR');
    if (obrs.length === 0) throw new Invalid('OBR segment is missing', '100', 'OBR');
    // OBX segments belong to the OBR before them.
    let current: { obr: Hl7Seg; obx: Hl7Seg[] } | null = null;
    const groups: { obr: Hl7Seg; obx: Hl7Seg[] }[] = [];
    for (const s of msg.segments) {
      if (s.name === 'OBR') groups.push((current = { obr: s, obx: [] }));
      else if (s.name === 'OBX') {
        if (!current) throw new Invalid('OBX segment before any OBR', '100', 'OBX');
        current.obx.push(s);
      }
    }
    for (const g of groups) {
      const reportUrl = nextUrl();
      const resultRefs: { reference: string }[] = [];
      const obrTime = toDateTime(g.obr.value(7), dates);
      for (const obx of g.obx) {
        const url = nextUrl();
        entries.push({ fullUrl: url, resource: mapObservation(obx, subject, encounterRef, obrTime, dates) });
        resultRefs.push({ reference: url });
      }
      entries.push({ fullUrl: reportUrl, resource: mapReport(g.obr, subject, encounterRef, resultRefs, dates) });
    }
  } else if (h.messageCode === 'ADT') {
    // The visit's diagnoses (DG1) as encounter-diagnosis Conditions, as the v2-to-FHIR IG maps them.
    for (const dg1 of msg.all('DG1')) {
      const condition = mapCondition(dg1, ctx);
      if (condition) ctx.add(condition);
    }
  } else {
    if (h.messageCode === 'ORM' || h.messageCode === 'OML') mapOrders(ctx);
    else if (h.messageCode === 'SIU') mapAppointment(ctx);
    else if (h.messageCode === 'MDM') mapDocument(ctx);
    else if (h.messageCode === 'VXU') mapImmunizations(ctx);
  }

  const bundleType = opts.bundleType ?? 'collection';
  if (bundleType === 'message') {
    entries.unshift({
      fullUrl: nextUrl(),
      resource: {
        resourceType: 'MessageHeader',
        eventCoding: {
          system: 'http://terminology.hl7.org/CodeSystem/v2-0003',
          code: h.triggerEvent,
        },
        source: { name: h.sendingApplication, endpoint: `urn:hl7v2:${encodeURIComponent(h.sendingApplication)}` },
        focus: [subject],
      },
    });
  }
  const timestamp = toDateTime(h.dateTime, dates);
  return {
    resourceType: 'Bundle',
    id: uuid(0xffffffff),
    type: bundleType,
    ...(timestamp && timestamp.length > 10 ? { timestamp } : {}),
    meta: {
      tag: [
        { system: 'http://terminology.hl7.org/CodeSystem/v2-0076', code: h.messageCode },
        { system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: h.triggerEvent },
        ...v2Understanding(msg).unknownSegments.map((code) => ({ system: UNMAPPED_SEGMENT_TAG, code })),
      ],
    },
    entry: entries,
  };
}


function mapPatient(pid: Hl7Seg, opts: MapOptions, nk1s: Hl7Seg[]): FhirResource {
  const identifier = compact(pid.reps(3).map((r) => toIdentifier(r, opts)));
  if (identifier.length === 0) throw new Invalid('PID-3 (patient identifier list) is empty', '101', 'PID-3');
  const ssn = pid.value(19);
  if (ssn) identifier.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn });
  const name = compact(pid.reps(5).map(toHumanName));
  const birthDate = pid.value(7) ? toDate(pid.value(7)) : undefined;
  const gender = ADMINISTRATIVE_GENDER[pid.value(8).toUpperCase()];
  const address = compact(pid.reps(11).map(toAddress));
  const telecom = [
    ...compact(pid.reps(13).map((r) => toContactPoint(r, 'home'))),
    ...compact(pid.reps(14).map((r) => toContactPoint(r, 'work'))),
  ];
  const marital = pid.reps(16)[0];
  const maritalStatus = marital && c(marital, 1)
    ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: c(marital, 1) }] }
    : undefined;
  const deathTime = pid.value(29);
  const deathFlag = pid.value(30).toUpperCase();
  const contact = compact(
    nk1s.map((nk1) => {
      const n = compact(nk1.reps(2).map(toHumanName))[0];
      const rel = toCodeableConcept(nk1.reps(3)[0]);
      const addr = compact(nk1.reps(4).map(toAddress))[0];
      const tel = compact(nk1.reps(5).map((r) => toContactPoint(r, 'home')));
      if (!n && !rel && !addr && !tel.length) return undefined;
      return {
        ...(rel ? { relationship: [rel] } : {}),
        ...(n ? { name: n } : {}),
        ...(tel.length ? { telecom: tel } : {}),
        ...(addr ? { address: addr } : {}),
      };
    }),
  );
  return {
    resourceType: 'Patient',
    identifier,
    ...(name.length ? { name } : {}),
    ...(telecom.length ? { telecom } : {}),
    ...(gender ? { gender } : {}),
    ...(birthDate ? { birthDate } : {}),
    ...(deathTime ? { deceasedDateTime: toDateTime(deathTime, { defaultTimezone: opts.defaultTimezone ?? DEFAULT_TIMEZONE }) } : deathFlag === 'Y' ? { deceasedBoolean: true } : deathFlag === 'N' ? { deceasedBoolean: false } : {}),
    ...(address.length ? { address } : {}),
    ...(maritalStatus ? { maritalStatus } : {}),
    ...(contact.length ? { contact } : {}),
  };
}

function mapEncounter(pv1: Hl7Seg, messageType: string, subject: { reference: string }, dates: DateOptions): FhirResource {
  const klass = ENCOUNTER_CLASS[pv1.value(2).toUpperCase()];
  const start = toDateTime(pv1.value(44), dates);
  const end = toDateTime(pv1.value(45), dates);
  // Only an ADT says the patient is here now; other messages without an admit time say nothing about it.
  const status = messageType === 'ADT^A03' || end ? 'finished' : !messageType.startsWith('ADT^') && !start ? 'unknown' : 'in-progress';
  const visit = pv1.reps(19)[0];
  const identifier = visit ? toIdentifier(visit) : undefined;
  const loc = pv1.reps(3)[0];
  const locationText = loc ? [c(loc, 4), c(loc, 1), c(loc, 2), c(loc, 3)].filter(Boolean).join(' ') : '';
  return {
    resourceType: 'Encounter',
    ...(identifier ? { identifier: [identifier] } : {}),
    status,
    class: klass
      ? { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', ...klass }
      : { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' },
    subject,
    ...(start || end ? { period: { ...(start ? { start } : {}), ...(end ? { end } : {}) } } : {}),
    ...(locationText ? { location: [{ location: { display: locationText } }] } : {}),
  };
}

function unitOf(rep: Comps | undefined): { unit?: string; system?: string; code?: string } {
  if (!rep) return {};
  const code = c(rep, 1);
  const text = c(rep, 2) || code;
  const sys = c(rep, 3).toUpperCase();
  if (!code && !text) return {};
  if (sys === 'UCUM') return { unit: text, system: 'http://unitsofmeasure.org', code };
  return { unit: text };
}

function num(s: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(s.trim())) return undefined;
  return Number(s);
}

/** "<5", ">=10.2": a comparator some senders put in front of an NM value. */
const LEADING_COMPARATOR = /^\s*(<=|>=|<|>)\s*(.+)$/;

function mapValue(obx: Hl7Seg, unit: ReturnType<typeof unitOf>, dates: DateOptions): Record<string, unknown> {
  const type = obx.value(2).toUpperCase() || 'ST'; // no value type: take it as text
  const reps = obx.reps(5);
  if (reps.length === 0) return {};
  const first = reps[0];
  const loc = 'OBX-5';
  switch (type) {
    case 'NM': {
      const raw = c(first, 1);
      const m = LEADING_COMPARATOR.exec(raw);
      const v = num(m ? m[2] : raw);
      if (v === undefined) throw new Invalid('OBX-5 is not a number for value type NM', '102', loc);
      return { valueQuantity: { value: v, ...(m ? { comparator: m[1] } : {}), ...unit } };
    }
    case 'CQ': {
      const v = num(c(first, 1));
      if (v === undefined) throw new Invalid('OBX-5 is not a composite quantity', '102', loc);
      // CQ.2 units is a CWE written as subcomponents
      return { valueQuantity: { value: v, ...unitOf(first[1] ? first[1].map((x) => [x]) : undefined) } };
    }
    case 'ID':
    case 'IS':
      return c(first, 1) ? { valueCodeableConcept: { coding: [{ code: c(first, 1) }] } } : {};
    case 'SN': {
      // comparator ^ num1 ^ separator/suffix ^ num2
      const comp = c(first, 1);
      const n1 = num(c(first, 2));
      const sep = c(first, 3);
      const n2 = num(c(first, 4));
      if (n1 === undefined) throw new Invalid('OBX-5 is not a structured numeric', '102', loc);
      if ((sep === '-' || sep === '') && n2 !== undefined) {
        return { valueRange: { low: { value: n1, ...unit }, high: { value: n2, ...unit } } };
      }
      if ((sep === ':' || sep === '/') && n2 !== undefined) {
        return { valueRatio: { numerator: { value: n1 }, denominator: { value: n2 } } };
      }
      if (comp && comp !== '=' && !COMPARATORS.has(comp)) throw new Invalid('OBX-5 has an unknown comparator', '102', loc);
      return { valueQuantity: { value: n1, ...(COMPARATORS.has(comp) ? { comparator: comp } : {}), ...unit } };
    }
    case 'CE':
    case 'CWE':
    case 'CNE': {
      const cc = toCodeableConcept(first);
      return cc ? { valueCodeableConcept: cc } : {};
    }
    case 'ST':
    case 'TX':
    case 'FT':
      return { valueString: reps.map((r) => r.map((x) => x.join('&')).join('^')).join('\n') };
    case 'DT':
    case 'TS':
    case 'DTM': {
      const d = toDateTime(c(first, 1), dates);
      if (!d) throw new Invalid('OBX-5 is not a date/time', '102', loc);
      return { valueDateTime: d };
    }
    case 'TM':
      return { valueTime: c(first, 1).replace(/^(\d{2})(\d{2})?(\d{2})?.*$/, (_, a, b, s) => `${a}:${b ?? '00'}:${s ?? '00'}`) };
    default:
      if (!/^[A-Z]{2,3}$/.test(type)) throw new Invalid('OBX-2 (value type) is invalid', '102', 'OBX-2');
      // ED, RP, XCN, …: not mapped to FHIR (the v2 form keeps them); say so rather than drop silently
      return {
        dataAbsentReason: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'unsupported' }],
          text: `HL7 v2 value type ${type} is not mapped`,
        },
      };
  }
}

function referenceRange(text: string, unit: ReturnType<typeof unitOf>): Record<string, unknown> | undefined {
  const t = text.trim();
  if (!t) return undefined;
  const q = (v: number) => ({ value: v, ...unit });
  let m = /^([+-]?\d*\.?\d+)\s*-\s*([+-]?\d*\.?\d+)$/.exec(t);
  if (m) return { low: q(Number(m[1])), high: q(Number(m[2])) };
  m = /^(>=?)\s*([+-]?\d*\.?\d+)$/.exec(t);
  if (m) return { low: q(Number(m[2])), text: t };
  m = /^(<=?)\s*([+-]?\d*\.?\d+)$/.exec(t);
  if (m) return { high: q(Number(m[2])), text: t };
  return { text: t };
}

function mapObservation(
  obx: Hl7Seg,
  subject: { reference: string },
  encounter: { reference: string } | undefined,
  fallbackTime: string | undefined,
  dates: DateOptions,
): FhirResource {
  const code = toCodeableConcept(obx.reps(3)[0]);
  if (!code) throw new Invalid('OBX-3 (observation identifier) is empty', '101', 'OBX-3');
  const unit = unitOf(obx.reps(6)[0]);
  const value = mapValue(obx, unit, dates);
  const range = referenceRange(obx.value(7), unit);
  const flags = obx
    .reps(8)
    .map((r) => c(r, 1))
    .filter(Boolean);
  const status = OBSERVATION_STATUS[obx.value(11).toUpperCase()] ?? 'unknown';
  const effective = toDateTime(obx.value(14), dates) ?? fallbackTime;
  const subId = obx.value(4);
  return {
    resourceType: 'Observation',
    ...(subId ? { identifier: [{ system: 'urn:darwaza:hl7v2:obx-sub-id', value: subId }] } : {}),
    status,
    code,
    subject,
    ...(encounter ? { encounter } : {}),
    ...(effective ? { effectiveDateTime: effective } : {}),
    ...value,
    ...(flags.length
      ? {
          interpretation: flags.map((f) => ({
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: f }],
          })),
        }
      : {}),
    ...(range ? { referenceRange: [range] } : {}),
  };
}

function mapReport(
  obr: Hl7Seg,
  subject: { reference: string },
  encounter: { reference: string } | undefined,
  result: { reference: string }[],
  dates: DateOptions,
): FhirResource {
  const code = toCodeableConcept(obr.reps(4)[0]);
  if (!code) throw new Invalid('OBR-4 (universal service identifier) is empty', '101', 'OBR-4');
  const identifier = compact([
    ...obr.reps(2).map((r) => (c(r, 1) ? { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] }, value: c(r, 1), ...(c(r, 2) ? { system: `urn:darwaza:hl7v2:authority:${encodeURIComponent(c(r, 2))}` } : {}) } : undefined)),
    ...obr.reps(3).map((r) => (c(r, 1) ? { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] }, value: c(r, 1), ...(c(r, 2) ? { system: `urn:darwaza:hl7v2:authority:${encodeURIComponent(c(r, 2))}` } : {}) } : undefined)),
  ]);
  const effective = toDateTime(obr.value(7), dates);
  const issued = toDateTime(obr.value(22), dates);
  const section = obr.value(24);
  return {
    resourceType: 'DiagnosticReport',
    ...(identifier.length ? { identifier } : {}),
    status: RESULT_STATUS[obr.value(25).toUpperCase()] ?? 'unknown',
    ...(section ? { category: [{ coding: [{ system: codeSystemUri('HL70074'), code: section }] }] } : {}),
    code,
    subject,
    ...(encounter ? { encounter } : {}),
    ...(effective ? { effectiveDateTime: effective } : {}),
    ...(issued && issued.length > 19 ? { issued } : {}),
    ...(result.length ? { result } : {}),
  };
}
