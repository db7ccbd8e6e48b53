/**
 * Scheduling (SIU^S12 new, S13 rescheduled, S14 modified, S15 cancelled) → Appointment, after
 * the HL7 v2-to-FHIR IG segment maps SCH[Appointment], AIS/AIG/AIL/AIP[Appointment] and
 * NTE[Appointment-Comment] (http://hl7.org/fhir/uv/v2mappings, ConceptMap
 * segment-sch-to-appointment and siblings). Timing from TQ1 (v2.5+), else SCH-11 (TQ), else the
 * first resource's start; R4 requires start and end of a booked appointment (invariant app-3),
 * so the end is the given one, else start + duration (SCH-9/10, else AIS-7/8). Pure.
 */
import type { FhirResource } from '../model/index.js';
import { c, toCodeableConcept, toDateTime } from './datatypes.js';
import { addMinutes, compact, eiIdentifier, Invalid, isInstant, noteText, timingOf, xcnReference, type MapContext } from './map-context.js';

/** SCH-25 filler status (HL7 table 0278) → Appointment.status (IG vocabulary map FillerStatusCodes[Appointment]). */
const FILLER_STATUS: Record<string, string> = {
  BOOKED: 'booked',
  BLOCKED: 'booked',
  OVERBOOK: 'booked',
  PENDING: 'pending',
  WAITLIST: 'waitlist',
  STARTED: 'arrived',
  COMPLETE: 'fulfilled',
  CANCELLED: 'cancelled',
  DC: 'cancelled',
  DELETED: 'entered-in-error',
  NOSHOW: 'noshow',
};

/** The trigger events' own meaning when SCH-25 is empty. */
const EVENT_STATUS: Record<string, string> = { S12: 'booked', S13: 'booked', S14: 'booked', S15: 'cancelled' };

/** Statuses R4 lets go without start and end (app-3). */
const UNTIMED = new Set(['proposed', 'cancelled', 'waitlist']);

/** Duration in minutes from an amount and a unit (CNE: min, h, d as written by schedulers and UCUM). */
function minutesOf(amount: string, unit: string): number | undefined {
  const n = Number(amount);
  if (!amount || !Number.isFinite(n) || n <= 0) return undefined;
  const u = unit.toLowerCase();
  if (u === '' || u === 'min' || u === 'mins' || u === 'minute' || u === 'minutes' || u === 'm') return Math.round(n);
  if (u === 'h' || u === 'hr' || u === 'hour' || u === 'hours') return Math.round(n * 60);
  if (u === 's' || u === 'sec' || u === 'seconds') return Math.max(1, Math.round(n / 60));
  return undefined;
}

export function mapAppointment(ctx: MapContext): void {
  const { msg, dates } = ctx;
  const sch = msg.segment('SCH');
  if (!sch) throw new Invalid('SCH segment is missing', '100', 'SCH');
  const ais = msg.segment('AIS');
  const identifier = compact([eiIdentifier(sch.reps(1)[0], 'PLAC'), eiIdentifier(sch.reps(2)[0], 'FILL')]);
  const status = FILLER_STATUS[sch.value(25).toUpperCase()] ?? EVENT_STATUS[msg.header.triggerEvent] ?? 'booked';

  // SCH-7 carries a reason, or (IG note) an appointment type when coded in HL70277; SCH-8 a type.
  const reason = toCodeableConcept(sch.reps(7)[0]);
  const reasonIsType = sch.value(7, 3).toUpperCase() === 'HL70277';
  const appointmentType = toCodeableConcept(sch.reps(8)[0]) ?? (reasonIsType ? reason : undefined);

  const minutes = minutesOf(sch.value(9), sch.value(10, 1)) ?? (ais ? minutesOf(ais.value(7), ais.value(8, 1)) : undefined);
  const timing = timingOf(msg.segment('TQ1'), sch.reps(11)[0], dates);
  const resourceStart = ['AIS', 'AIG', 'AIL', 'AIP']
    .map((name) => msg.segment(name))
    .map((s) => (s ? toDateTime(s.value(s.name === 'AIS' ? 4 : s.name === 'AIG' ? 8 : 6), dates) : undefined))
    .find(isInstant);
  const start = isInstant(timing.start) ? timing.start : resourceStart;
  const end = isInstant(timing.end) ? timing.end : start && minutes ? addMinutes(start, minutes) : undefined;
  if (!UNTIMED.has(status) && !(start && end)) {
    throw new Invalid(
      start ? 'appointment end is missing (TQ1-8, SCH-11.5, or a duration in SCH-9/10 or AIS-7/8)' : 'appointment start is missing (TQ1-7, SCH-11.4 or AIS-4)',
      '101',
      start ? 'TQ1-8' : 'TQ1-7',
    );
  }

  const participant: Record<string, unknown>[] = [{ actor: ctx.subject, status: 'accepted' }];
  for (const s of msg.segments) {
    let actor: Record<string, unknown> | undefined;
    if (s.name === 'AIP') actor = xcnReference(s.reps(3)[0]);
    else if (s.name === 'AIL') {
      const pl = s.reps(3)[0];
      const display = pl ? [c(pl, 4), c(pl, 1), c(pl, 2), c(pl, 3)].filter(Boolean).join(' ') : '';
      actor = display ? { display } : undefined;
    } else if (s.name === 'AIG') {
      const r = toCodeableConcept(s.reps(3)[0]);
      const display = r?.text ?? r?.coding?.[0]?.display ?? r?.coding?.[0]?.code;
      actor = display ? { display } : undefined;
    }
    if (actor) participant.push({ actor, status: 'accepted' });
  }
  const placer = xcnReference(sch.reps(12)[0]);
  if (placer) participant.push({ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'REF' }] }], actor: placer, status: 'accepted' });

  const serviceType = compact(msg.all('AIS').map((s) => toCodeableConcept(s.reps(3)[0])));
  // NTE after SCH (and the resource segments) are the appointment's comments.
  const comment = noteText(msg.all('NTE'));
  // SCH-6 event reason says why a cancellation happened; R4 keeps cancelationReason for cancelled/noshow (app-4).
  const cancelationReason = status === 'cancelled' || status === 'noshow' ? toCodeableConcept(sch.reps(6)[0]) : undefined;
  const supportingInformation = msg.all('OBX').map((obx) => ctx.add(ctx.observation(obx)));

  ctx.add({
    resourceType: 'Appointment',
    ...(identifier.length ? { identifier } : {}),
    status,
    ...(cancelationReason ? { cancelationReason } : {}),
    ...(serviceType.length ? { serviceType } : {}),
    ...(appointmentType ? { appointmentType } : {}),
    ...(reason && !reasonIsType ? { reasonCode: [reason] } : {}),
    ...(start ? { start } : {}),
    ...(end ? { end } : {}),
    ...(minutes ? { minutesDuration: minutes } : {}),
    ...(comment ? { comment } : {}),
    ...(supportingInformation.length ? { supportingInformation } : {}),
    participant,
  } satisfies FhirResource);
}

