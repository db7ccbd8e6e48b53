/**
 * Immunisations (VXU^V04) → Immunization, after the HL7 v2-to-FHIR IG segment maps
 * RXA[Immunization], RXR[Immunization] and ORC[Immunization]
 * (http://hl7.org/fhir/uv/v2mappings, ConceptMap segment-rxa-to-immunization). One
 * Immunization per RXA; the RXR after it gives route and site, the ORC before it the order
 * numbers and ordering provider; OBX after it (eligibility, VIS dates, reactions) become
 * Observations partOf it. RXA-9 "00" (NIP001, new record) is a primary source, as the CDC
 * immunisation guide reads it. Pure.
 */
import type { FhirResource } from '../model/index.js';
import type { Hl7Seg } from './parse.js';
import { c, toCodeableConcept, toDate, toDateTime } from './datatypes.js';
import { compact, eiIdentifier, Invalid, xcnReference, type MapContext, type Ref } from './map-context.js';

/** RXA-20 completion status (HL7 table 0322) → Immunization.status (IG vocabulary map CompletionStatus). */
const COMPLETION: Record<string, string> = { CP: 'completed', PA: 'completed', NA: 'not-done', RE: 'not-done' };

const V2_0443 = 'http://terminology.hl7.org/CodeSystem/v2-0443';

interface Administration {
  rxa: Hl7Seg;
  orc?: Hl7Seg;
  rxr?: Hl7Seg;
  obx: Hl7Seg[];
}

export function mapImmunizations(ctx: MapContext): void {
  const list: Administration[] = [];
  let orc: Hl7Seg | undefined;
  let current: Administration | undefined;
  for (const s of ctx.msg.segments) {
    if (s.name === 'ORC') {
      orc = s;
      current = undefined;
    } else if (s.name === 'RXA') {
      list.push((current = { rxa: s, ...(orc ? { orc } : {}), obx: [] }));
      orc = undefined;
    } else if (s.name === 'RXR' && current && !current.rxr) current.rxr = s;
    else if (s.name === 'OBX' && current) current.obx.push(s);
  }
  if (list.length === 0) throw new Invalid('RXA segment is missing', '100', 'RXA');
  for (const a of list) {
    const ref = ctx.add(mapImmunization(a, ctx));
    for (const obx of a.obx) {
      const o = ctx.observation(obx, toDateTime(a.rxa.value(3), ctx.dates));
      ctx.add({ ...o, partOf: [ref] } as FhirResource);
    }
  }
}

function mapImmunization(a: Administration, ctx: MapContext): FhirResource {
  const { rxa, orc, rxr } = a;
  const vaccineCode = toCodeableConcept(rxa.reps(5)[0]);
  if (!vaccineCode) throw new Invalid('RXA-5 (administered code) is empty', '101', 'RXA-5');
  const occurrence = toDateTime(rxa.value(3), ctx.dates);
  if (!occurrence) throw new Invalid('RXA-3 (date/time start of administration) is empty or malformed', '101', 'RXA-3');
  const status = rxa.value(21).toUpperCase() === 'D' ? 'entered-in-error' : (COMPLETION[rxa.value(20).toUpperCase()] ?? 'completed');
  const statusReason = status === 'not-done' ? toCodeableConcept(rxa.reps(18)[0]) : undefined;
  const identifier = compact([eiIdentifier(orc?.reps(2)[0], 'PLAC'), eiIdentifier(orc?.reps(3)[0], 'FILL')]);
  const recorded = toDateTime(rxa.value(22), ctx.dates);
  // RXA-6 999 means "amount unknown" in immunisation guides: no dose then.
  const amount = rxa.value(6);
  const dose = amount && amount !== '999' && /^[+-]?(\d+\.?\d*|\.\d+)$/.test(amount) ? Number(amount) : undefined;
  const units = rxa.reps(7)[0];
  const doseQuantity =
    dose !== undefined
      ? {
          value: dose,
          ...(c(units, 1) ? { unit: c(units, 2) || c(units, 1) } : {}),
          ...(c(units, 1) && /^UCUM$/i.test(c(units, 3)) ? { system: 'http://unitsofmeasure.org', code: c(units, 1) } : {}),
        }
      : undefined;
  const origin = rxa.reps(9)[0];
  const primarySource = c(origin, 3).toUpperCase() === 'NIP001' && c(origin, 1) ? c(origin, 1) === '00' : undefined;
  const reportOrigin = primarySource === false ? toCodeableConcept(origin) : undefined;
  const manufacturerRep = rxa.reps(17)[0];
  const manufacturer = c(manufacturerRep, 1)
    ? {
        identifier: { system: /^MVX$/i.test(c(manufacturerRep, 3)) ? 'http://terminology.hl7.org/CodeSystem/MVX' : 'urn:darwaza:hl7v2:manufacturer', value: c(manufacturerRep, 1) },
        ...(c(manufacturerRep, 2) ? { display: c(manufacturerRep, 2) } : {}),
      }
    : undefined;
  const performer = [
    ...compact(rxa.reps(10).map(xcnReference)).map((actor) => ({ function: { coding: [{ system: V2_0443, code: 'AP', display: 'Administering Provider' }] }, actor })),
    ...compact((orc?.reps(12) ?? []).map(xcnReference)).map((actor) => ({ function: { coding: [{ system: V2_0443, code: 'OP', display: 'Ordering Provider' }] }, actor })),
  ];
  const reasonCode = compact(rxa.reps(19).map(toCodeableConcept));
  const route = toCodeableConcept(rxr?.reps(1)[0]);
  const site = toCodeableConcept(rxr?.reps(2)[0]);
  const lot = rxa.value(15);
  const expiry = rxa.value(16) ? toDate(rxa.value(16)) : undefined;
  return {
    resourceType: 'Immunization',
    ...(identifier.length ? { identifier } : {}),
    status,
    ...(statusReason ? { statusReason } : {}),
    vaccineCode,
    patient: ctx.subject,
    ...(ctx.encounter ? { encounter: ctx.encounter as Ref } : {}),
    occurrenceDateTime: occurrence,
    ...(recorded ? { recorded } : {}),
    ...(primarySource !== undefined ? { primarySource } : {}),
    ...(reportOrigin ? { reportOrigin } : {}),
    ...(manufacturer ? { manufacturer } : {}),
    ...(lot ? { lotNumber: lot } : {}),
    ...(expiry ? { expirationDate: expiry } : {}),
    ...(site ? { site } : {}),
    ...(route ? { route } : {}),
    ...(doseQuantity ? { doseQuantity } : {}),
    ...(performer.length ? { performer } : {}),
    ...(reasonCode.length ? { reasonCode } : {}),
  };
}
