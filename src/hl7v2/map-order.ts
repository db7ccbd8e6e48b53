/**
 * Orders (ORM^O01, OML^O21) → ServiceRequest, after the HL7 v2-to-FHIR IG segment maps
 * ORC[ServiceRequest], OBR[ServiceRequest], TQ1[ServiceRequest], DG1[Condition] and
 * SPM[Specimen] (http://hl7.org/fhir/uv/v2mappings, ConceptMap segment-orc-to-servicerequest
 * and siblings), for the fields listed in docs/hl7v2.md. One ServiceRequest per order group
 * (an ORC, or an OBR without one); NTE → note, DG1 → Condition as reasonReference, OBX
 * (answers at order entry) → Observation as supportingInfo, SPM → Specimen. Pure.
 */
import type { FhirResource } from '../model/index.js';
import type { Hl7Seg } from './parse.js';
import { c, toCodeableConcept, toDateTime } from './datatypes.js';
import { compact, eiIdentifier, Invalid, noteText, timingOf, xcnReference, type MapContext, type Ref } from './map-context.js';

/** ORC-5 order status (HL7 table 0038) → ServiceRequest.status (IG vocabulary map OrderStatus). */
const ORDER_STATUS: Record<string, string> = {
  A: 'active',
  CA: 'revoked',
  CM: 'completed',
  DC: 'revoked',
  ER: 'entered-in-error',
  HD: 'on-hold',
  IP: 'active',
  RP: 'revoked',
  SC: 'active',
};

/** ORC-1 order control (HL7 table 0119), used when ORC-5 is empty (IG map OrderControlCode[ServiceRequest.status]). */
const ORDER_CONTROL_STATUS: Record<string, string> = {
  NW: 'active',
  OK: 'active',
  SC: 'active',
  SN: 'active',
  XO: 'active',
  RL: 'active',
  CA: 'revoked',
  OC: 'revoked',
  CR: 'revoked',
  DC: 'revoked',
  OD: 'revoked',
  DR: 'revoked',
  HD: 'on-hold',
  OH: 'on-hold',
};

interface OrderGroup {
  orc?: Hl7Seg;
  obr?: Hl7Seg;
  tq1?: Hl7Seg;
  notes: Hl7Seg[];
  reasons: Ref[];
  supporting: Ref[];
  specimens: Ref[];
}

/** Adds one ServiceRequest per order group (and its Conditions, Observations, Specimens) to the Bundle. */
export function mapOrders(ctx: MapContext): void {
  const groups: OrderGroup[] = [];
  let current: OrderGroup | undefined;
  const start = (): OrderGroup => {
    current = { notes: [], reasons: [], supporting: [], specimens: [] };
    groups.push(current);
    return current;
  };
  for (const s of ctx.msg.segments) {
    switch (s.name) {
      case 'ORC':
        start().orc = s;
        break;
      case 'OBR':
        // An OBR belongs to the ORC before it, unless that order already has its OBR.
        if (!current || current.obr) start();
        current!.obr = s;
        break;
      case 'TQ1':
        if (current && !current.tq1) current.tq1 = s;
        break;
      case 'NTE':
        if (current) current.notes.push(s);
        break;
      case 'DG1': {
        const cond = mapCondition(s, ctx);
        if (cond) {
          const ref = ctx.add(cond);
          if (current) current.reasons.push(ref);
        }
        break;
      }
      case 'OBX':
        if (current) current.supporting.push(ctx.add(ctx.observation(s, toDateTime(current.obr?.value(7) ?? '', ctx.dates))));
        break;
      case 'SPM':
        if (current) current.specimens.push(ctx.add(mapSpecimen(s, ctx)));
        break;
    }
  }
  if (groups.length === 0) throw new Invalid('ORC segment is missing', '100', 'ORC');
  for (const g of groups) ctx.add(mapServiceRequest(g, ctx));
}

function mapServiceRequest(g: OrderGroup, ctx: MapContext): FhirResource {
  const { orc, obr } = g;
  // Placer and filler numbers: OBR-2/3, else ORC-2/3 (IG: "IF OBR-2 NOT VALUED").
  const placer = obr?.reps(2)[0]?.length ? obr.reps(2)[0] : orc?.reps(2)[0];
  const filler = obr?.reps(3)[0]?.length ? obr.reps(3)[0] : orc?.reps(3)[0];
  const identifier = compact([eiIdentifier(placer, 'PLAC'), eiIdentifier(filler, 'FILL')]);
  const requisition = eiIdentifier(orc?.reps(4)[0], 'PGN');
  const status = ORDER_STATUS[(orc?.value(5) ?? '').toUpperCase()] ?? ORDER_CONTROL_STATUS[(orc?.value(1) ?? '').toUpperCase()] ?? 'unknown';
  const code = toCodeableConcept(obr?.reps(4)[0]);
  if (obr && !code) throw new Invalid('OBR-4 (universal service identifier) is empty', '101', 'OBR-4');
  const timing = timingOf(g.tq1, orc?.reps(7)[0] ?? obr?.reps(27)[0], ctx.dates);
  const authoredOn = toDateTime(orc?.value(9) ?? '', ctx.dates);
  const requester = xcnReference(orc?.reps(12)[0]) ?? xcnReference(obr?.reps(16)[0]);
  const reasonCode = compact((obr?.reps(31) ?? []).map(toCodeableConcept));
  const note = noteText(g.notes);
  return {
    resourceType: 'ServiceRequest',
    ...(identifier.length ? { identifier } : {}),
    ...(requisition ? { requisition } : {}),
    status,
    intent: 'order',
    ...(timing.priority ? { priority: timing.priority } : {}),
    ...(code ? { code } : {}),
    subject: ctx.subject,
    ...(ctx.encounter ? { encounter: ctx.encounter } : {}),
    ...(timing.start && timing.end
      ? { occurrencePeriod: { start: timing.start, end: timing.end } }
      : timing.start
        ? { occurrenceDateTime: timing.start }
        : {}),
    ...(authoredOn ? { authoredOn } : {}),
    ...(requester ? { requester } : {}),
    ...(reasonCode.length ? { reasonCode } : {}),
    ...(g.reasons.length ? { reasonReference: g.reasons } : {}),
    ...(g.supporting.length ? { supportingInfo: g.supporting } : {}),
    ...(g.specimens.length ? { specimen: g.specimens } : {}),
    ...(note ? { note: [{ text: note }] } : {}),
  };
}

/** DG1 → Condition (IG DG1[Condition]): DG1-3 code, DG1-5 onset, as an encounter diagnosis. Undefined without a code. */
export function mapCondition(dg1: Hl7Seg, ctx: MapContext): FhirResource | undefined {
  const code = toCodeableConcept(dg1.reps(3)[0]);
  if (!code) return undefined;
  const onset = toDateTime(dg1.value(5), ctx.dates);
  return {
    resourceType: 'Condition',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }] }],
    code,
    subject: ctx.subject,
    ...(ctx.encounter ? { encounter: ctx.encounter } : {}),
    ...(onset ? { onsetDateTime: onset } : {}),
  };
}

/** SPM → Specimen (IG SPM[Specimen]): SPM-2 ids, SPM-4 type, SPM-8 source site, SPM-17 collection time. */
function mapSpecimen(spm: Hl7Seg, ctx: MapContext): FhirResource {
  const ids = spm.reps(2)[0];
  // SPM-2 is EIP: placer EI & filler EI as subcomponents of components 1 and 2.
  const identifier = compact([
    eiIdentifier(ids?.[0]?.map((x) => [x]), 'PLAC'),
    eiIdentifier(ids?.[1]?.map((x) => [x]), 'FILL'),
  ]);
  const type = toCodeableConcept(spm.reps(4)[0]);
  const site = toCodeableConcept(spm.reps(8)[0]);
  const collected = spm.reps(17)[0];
  const from = toDateTime(c(collected, 1), ctx.dates);
  const to = toDateTime(c(collected, 2), ctx.dates);
  const collection = {
    ...(from && to ? { collectedPeriod: { start: from, end: to } } : from ? { collectedDateTime: from } : {}),
    ...(site ? { bodySite: site } : {}),
  };
  return {
    resourceType: 'Specimen',
    ...(identifier.length ? { identifier } : {}),
    ...(type ? { type } : {}),
    subject: ctx.subject,
    ...(Object.keys(collection).length ? { collection } : {}),
  };
}
