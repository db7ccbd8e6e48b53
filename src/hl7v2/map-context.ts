/**
 * What the per-message-type mappers share: the refusal they throw for content that cannot be
 * mapped, the message's context (patient, encounter, times, entry ids), and the few v2 data
 * types only they read (EI, XCN, TQ/TQ1 timing). Pure.
 */
import type { FhirResource } from '../model/index.js';
import type { Hl7Seg, ParsedHl7 } from './parse.js';
import { c, codeSystemUri, toDateTime, type Comps, type DateOptions } from './datatypes.js';

/** Content of a supported type that cannot be mapped; reason names the field, never its value. */
export class Invalid extends Error {
  constructor(
    readonly reason: string,
    readonly errorCode: string,
    readonly location: string,
  ) {
    super(reason);
  }
}

export function compact<T>(xs: (T | undefined)[]): T[] {
  return xs.filter((x): x is T => x !== undefined);
}

export type Ref = { reference: string };

export interface MapContext {
  msg: ParsedHl7;
  subject: Ref;
  encounter?: Ref;
  dates: DateOptions;
  /** Adds a resource to the Bundle; returns a reference to its entry. */
  add(resource: FhirResource): Ref;
  /** The OBX → Observation map the ORU mapping uses (results, answers at order entry, immunisation observations). */
  observation(obx: Hl7Seg, fallbackTime?: string): FhirResource;
}

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

/** EI (entity id^namespace^universal id^type) → Identifier, typed PLAC/FILL/PGN when given. */
export function eiIdentifier(rep: Comps | undefined, typeCode?: string): Record<string, unknown> | undefined {
  const value = c(rep, 1);
  if (!value) return undefined;
  const ns = c(rep, 2);
  const uid = c(rep, 3);
  const system = uid && /^\d+(\.\d+)+$/.test(uid) ? `urn:oid:${uid}` : ns ? `urn:darwaza:hl7v2:authority:${encodeURIComponent(ns)}` : undefined;
  return {
    ...(typeCode ? { type: { coding: [{ system: V2_0203, code: typeCode }] } } : {}),
    ...(system ? { system } : {}),
    value,
  };
}

/**
 * XCN (id^family^given^middle^suffix^prefix…^assigning authority) → a Reference by identifier
 * and display: the person is named, not created as a Practitioner resource.
 */
export function xcnReference(rep: Comps | undefined): Record<string, unknown> | undefined {
  const id = c(rep, 1);
  const display = [c(rep, 6), c(rep, 3), c(rep, 4), c(rep, 2)].filter(Boolean).join(' ');
  if (!id && !display) return undefined;
  const ns = c(rep, 9);
  return {
    ...(id ? { identifier: { ...(ns ? { system: `urn:darwaza:hl7v2:authority:${encodeURIComponent(ns)}` } : {}), value: id } } : {}),
    ...(display ? { display } : {}),
  };
}

/** A CWE as one Coding (for meta.security and similar single-coding places). */
export function cweCoding(rep: Comps | undefined): { system?: string; code: string; display?: string } | undefined {
  const code = c(rep, 1);
  if (!code) return undefined;
  const system = codeSystemUri(c(rep, 3));
  const display = c(rep, 2);
  return { ...(system ? { system } : {}), code, ...(display ? { display } : {}) };
}

/** NTE-3 comments of the given NTE segments, joined by newlines ('' when none). */
export function noteText(ntes: Hl7Seg[]): string {
  return ntes
    .flatMap((n) => n.reps(3).map((r) => r.map((x) => x.join('&')).join('^')))
    .filter(Boolean)
    .join('\n');
}

/** TQ1-9 / TQ.6 priority (HL7 table 0485) → FHIR request priority. */
export function priorityOf(code: string): string | undefined {
  const p = code.toUpperCase();
  if (p === 'S') return 'stat';
  if (p === 'A' || p === 'P') return 'asap';
  if (p === 'R' || p === 'T' || p === 'C' || p === 'PRN') return 'routine';
  return undefined;
}

/**
 * Start and end of a timing: TQ1-7/TQ1-8 (v2.5 and later), else the older TQ in the given field
 * (component 4 start, 5 end). Values without a time of day stay dates.
 */
export function timingOf(tq1: Hl7Seg | undefined, tq: Comps | undefined, dates: DateOptions): { start?: string; end?: string; priority?: string } {
  const start = toDateTime(tq1?.value(7) || c(tq, 4), dates);
  const end = toDateTime(tq1?.value(8) || c(tq, 5), dates);
  const priority = priorityOf(tq1?.value(9) || c(tq, 6));
  return { ...(start ? { start } : {}), ...(end ? { end } : {}), ...(priority ? { priority } : {}) };
}

/** Adds minutes to a FHIR dateTime with a time and an offset, keeping its offset. */
export function addMinutes(dateTime: string, minutes: number): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(dateTime);
  if (!m) return undefined;
  // Wall-clock arithmetic in the value's own offset: read the local time as if UTC, add, print it back.
  const local = Date.parse(`${m[1]}Z`) + minutes * 60_000;
  return `${new Date(local).toISOString().slice(0, 19)}${m[2]}`;
}

/** A FHIR instant needs a time of day with seconds and an offset: a dateTime of date precision is not one. */
export const isInstant = (v: string | undefined): v is string => !!v && /T\d{2}:\d{2}:\d{2}/.test(v);
