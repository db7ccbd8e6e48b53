/**
 * Orders, scheduling, documents and immunisations mapped to FHIR R4 from real-shaped messages
 * (test/fixtures/hl7v2, modelled on the HL7 v2 chapter examples and the v2-to-FHIR IG), each
 * Bundle validated against the R4 definitions, required elements included.
 */
import t from 'tap';
import { parseHl7, mapToFhir, UNMAPPED_SEGMENT_TAG, isMappedType } from '../../src/hl7v2/index.js';
import type { FhirResource } from '../../src/model/index.js';
import { loadHl7 } from '../fixtures/hl7v2/load.js';
import { r4Issues } from '../fixtures/hl7v2/r4.js';

type Entry = { fullUrl: string; resource: FhirResource & Record<string, any> };
function mapped(text: string): { entries: Entry[]; bundle: Record<string, any> } {
  const r = mapToFhir(parseHl7(text));
  if (r.kind !== 'mapped') throw new Error(`not mapped: ${JSON.stringify(r)}`);
  return { entries: r.bundle.entry as Entry[], bundle: r.bundle as Record<string, any> };
}
const ofType = (entries: Entry[], type: string) => entries.filter((e) => e.resource.resourceType === type).map((e) => e.resource);
const urlOf = (entries: Entry[], type: string) => entries.find((e) => e.resource.resourceType === type)!.fullUrl;
const text64 = (a: { data: string }) => Buffer.from(a.data, 'base64').toString('utf8');

const FIXTURES = ['orm-o01-radiology.hl7', 'oml-o21-lab.hl7', 'siu-s12.hl7', 'siu-s15-cancel.hl7', 'mdm-t02-discharge.hl7', 'vxu-v04-epi.hl7'];

t.test('every new fixture maps to a Bundle that is valid FHIR R4 (required elements included)', async (t) => {
  for (const name of FIXTURES) {
    const { bundle } = mapped(loadHl7(name));
    t.same(r4Issues(bundle as FhirResource), [], `${name} validates against R4`);
  }
});

t.test('ORM^O01 → ServiceRequest: identifiers, status, code, timing, requester, reason, note, and DG1 as a Condition', async (t) => {
  const { entries } = mapped(loadHl7('orm-o01-radiology.hl7'));
  const [sr] = ofType(entries, 'ServiceRequest');
  t.same(sr.identifier, [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] }, system: 'urn:darwaza:hl7v2:authority:SHIFA_HIS', value: 'ORD-7781' }]);
  t.equal(sr.requisition.value, 'GRP-51', 'ORC-4 placer group → requisition');
  t.equal(sr.status, 'active', 'ORC-5 SC (scheduled) → active');
  t.equal(sr.intent, 'order');
  t.same(sr.code.coding[0], { system: 'http://loinc.org', code: '36643-5', display: 'XR Chest 2 Views' });
  t.equal(sr.occurrenceDateTime, '2024-03-20T11:00:00+05:00', 'ORC-7 TQ start (v2.4 has no TQ1)');
  t.equal(sr.priority, 'routine');
  t.equal(sr.authoredOn, '2024-03-20T10:15:00+05:00');
  t.same(sr.requester, { identifier: { system: 'urn:darwaza:hl7v2:authority:SHIFA_STAFF', value: '4521' }, display: 'Dr Tariq Ahmed' });
  t.equal(sr.reasonCode[0].coding[0].code, 'R05', 'OBR-31 reason for study');
  t.equal(sr.note[0].text, 'Please compare with the previous film.');
  const [cond] = ofType(entries, 'Condition');
  t.same(cond.code.coding[0], { system: 'http://hl7.org/fhir/sid/icd-10', code: 'R05', display: 'Cough' });
  t.same(sr.reasonReference, [{ reference: urlOf(entries, 'Condition') }]);
  t.equal(sr.subject.reference, urlOf(entries, 'Patient'));
  t.equal(sr.encounter.reference, urlOf(entries, 'Encounter'));
  t.equal(ofType(entries, 'Encounter')[0].status, 'in-progress', 'an admit time says the visit is on');
});

t.test('OML^O21 → ServiceRequest with TQ1 priority and time, an answer at order entry, and a Specimen', async (t) => {
  const { entries } = mapped(loadHl7('oml-o21-lab.hl7'));
  const [sr] = ofType(entries, 'ServiceRequest');
  t.equal(sr.status, 'active', 'ORC-1 NW with ORC-5 empty → active');
  t.equal(sr.priority, 'stat', 'TQ1-9 S');
  t.equal(sr.occurrenceDateTime, '2024-03-21T09:00:00+05:00', 'TQ1-7');
  t.equal(sr.code.coding[0].code, '4548-4');
  const [obs] = ofType(entries, 'Observation');
  t.same(obs.valueQuantity, { value: 68, unit: 'kilogram', system: 'http://unitsofmeasure.org', code: 'kg' });
  t.same(sr.supportingInfo, [{ reference: urlOf(entries, 'Observation') }]);
  const [spm] = ofType(entries, 'Specimen');
  t.equal(spm.identifier[0].value, 'SPC-1');
  t.equal(spm.type.coding[0].code, '119297000');
  t.equal(spm.collection.collectedDateTime, '2024-03-21T08:30:00+05:00');
  t.equal(spm.collection.bodySite.coding[0].code, '368208006');
  t.same(sr.specimen, [{ reference: urlOf(entries, 'Specimen') }]);
  t.equal(ofType(entries, 'Encounter')[0].status, 'unknown', 'a visit without an admit time in an order is not claimed to be in progress');
});

t.test('SIU^S12 → a booked Appointment with start, end, duration, type, reason, service, participants and comment', async (t) => {
  const { entries } = mapped(loadHl7('siu-s12.hl7'));
  const [a] = ofType(entries, 'Appointment');
  t.equal(a.status, 'booked');
  t.equal(a.start, '2024-03-25T10:00:00+05:00');
  t.equal(a.end, '2024-03-25T10:30:00+05:00');
  t.equal(a.minutesDuration, 30);
  t.same(a.identifier.map((i: any) => [i.type.coding[0].code, i.value]), [['PLAC', 'APT-1'], ['FILL', 'APT-1']]);
  t.equal(a.appointmentType.coding[0].code, 'NORMAL');
  t.same(a.reasonCode[0].coding[0], { system: 'http://terminology.hl7.org/CodeSystem/v2-0276', code: 'FOLLOWUP', display: 'Follow-up' });
  t.equal(a.serviceType[0].coding[0].code, '185389009');
  t.equal(a.comment, 'Bring previous reports.');
  t.same(a.participant[0], { actor: { reference: urlOf(entries, 'Patient') }, status: 'accepted' });
  t.ok(a.participant.some((p: any) => p.actor.display === 'SHIFA_ISB OPD 12'), 'AIL location');
  t.ok(a.participant.some((p: any) => p.actor.display === 'Dr Tariq Ahmed'), 'AIP personnel');
  t.notOk(a.cancelationReason, 'no cancellation reason on a booking (R4 app-4)');
});

t.test('SIU^S13/S14 map as booked, S15 as cancelled with its reason; timing from SCH-11 alone (v2.3.1)', async (t) => {
  for (const ev of ['S13', 'S14']) {
    const text = loadHl7('siu-s12.hl7').replace('SIU^S12^SIU_S12', `SIU^${ev}^SIU_S12`);
    t.ok(isMappedType(`SIU^${ev}`));
    t.equal(ofType(mapped(text).entries, 'Appointment')[0].status, 'booked', ev);
  }
  const { entries, bundle } = mapped(loadHl7('siu-s15-cancel.hl7'));
  const [a] = ofType(entries, 'Appointment');
  t.equal(a.status, 'cancelled');
  t.equal(a.cancelationReason.coding[0].code, 'PATCAN');
  t.equal(a.start, '2024-03-25T10:00:00+05:00', 'SCH-11.4 start');
  t.equal(a.end, '2024-03-25T10:30:00+05:00', 'SCH-11.5 end');
  t.same(r4Issues(bundle as FhirResource), []);
  // No SCH-25: the event says what happened.
  const noStatus = loadHl7('siu-s15-cancel.hl7').replace('|Cancelled', '|');
  t.equal(ofType(mapped(noStatus).entries, 'Appointment')[0].status, 'cancelled');
});

t.test('an appointment end is computed from the duration; a booking without a start is refused naming the field', async (t) => {
  const base = loadHl7('siu-s12.hl7');
  const noEnd = base.replace(/^TQ1\|.*$/m, 'TQ1|1||||||20240325100000+0500').replace('^^30^20240325100000+0500^20240325103000+0500', '');
  const [a] = ofType(mapped(noEnd).entries, 'Appointment');
  t.equal(a.end, '2024-03-25T10:30:00+05:00', 'start + SCH-9 minutes');
  const noStart = noEnd.replace(/^TQ1\|.*$/m, 'TQ1|1').replace(/^AIS\|1\|A\|([^|]*)\|[^|]*/m, 'AIS|1|A|$1|');
  const r = mapToFhir(parseHl7(noStart));
  t.match(r, { kind: 'invalid', errorCode: '101', location: 'TQ1-7' });
  t.notMatch((r as any).reason, /Khan|Ayesha/);
});

t.test('MDM^T02 → DocumentReference with the OBX text as a UTF-8 attachment, TXA type, status, authors, confidentiality', async (t) => {
  const { entries } = mapped(loadHl7('mdm-t02-discharge.hl7'));
  const [d] = ofType(entries, 'DocumentReference');
  t.equal(d.status, 'current');
  t.equal(d.docStatus, 'final', 'TXA-17 AU (authenticated)');
  t.same(d.type.coding[0], { system: 'http://terminology.hl7.org/CodeSystem/v2-0270', code: 'DS', display: 'Discharge Summary' });
  t.same(d.masterIdentifier, { system: 'urn:darwaza:hl7v2:authority:SHIFA_HIS', value: 'DOC-2024-0042' });
  t.equal(d.date, '2024-03-20T16:55:00+05:00');
  t.equal(d.author[0].display, 'Dr Tariq Ahmed');
  t.equal(d.description, 'Discharge summary');
  t.same(d.securityLabel[0].coding[0], { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' });
  t.equal(d.content.length, 1);
  t.equal(d.content[0].attachment.contentType, 'text/plain; charset=utf-8');
  t.equal(
    text64(d.content[0].attachment),
    'Admitted with community-acquired pneumonia.\nTreated with IV antibiotics; afebrile since day 3.\nFollow up in OPD in one week.',
    'repetitions and OBX segments joined by line feeds',
  );
  t.same(d.context.encounter, [{ reference: urlOf(entries, 'Encounter') }]);
  t.equal(d.context.period.start, '2024-03-20T16:30:00+05:00');
  t.equal(ofType(entries, 'Encounter')[0].status, 'finished');
});

t.test('MDM: ED content becomes its own attachment; a document without content is refused; T04..T10 carry content too', async (t) => {
  const base = loadHl7('mdm-t02-discharge.hl7');
  const withPdf = `${base}\rOBX|3|ED|18842-5^Discharge summary^LN||^AP^PDF^Base64^JVBERi0xLjQK||||||F`;
  const [d] = ofType(mapped(withPdf).entries, 'DocumentReference');
  t.same(d.content[1].attachment, { contentType: 'application/pdf', data: 'JVBERi0xLjQK' });
  const restricted = base.replace('|AU|U|AV|', '|AU|R|OB|');
  const [r] = ofType(mapped(restricted).entries, 'DocumentReference');
  t.equal(r.securityLabel[0].coding[0].code, 'R', 'TXA-18 R → restricted');
  t.equal(r.status, 'superseded', 'TXA-19 OB (obsolete)');
  const empty = base.split('\r').filter((s) => !s.startsWith('OBX')).join('\r');
  t.match(mapToFhir(parseHl7(empty)), { kind: 'invalid', location: 'OBX-5' });
  const noTxa = base.split('\r').filter((s) => !s.startsWith('TXA')).join('\r');
  t.match(mapToFhir(parseHl7(noTxa)), { kind: 'invalid', location: 'TXA', errorCode: '100' });
  for (const ev of ['T04', 'T06', 'T08', 'T10']) t.ok(isMappedType(`MDM^${ev}`), ev);
  t.notOk(isMappedType('MDM^T01'), 'a notification without content has nothing for DocumentReference.content');
});

t.test('VXU^V04 → one Immunization per RXA with CVX code, lot, manufacturer, route, site, performers; OBX partOf it', async (t) => {
  const { entries } = mapped(loadHl7('vxu-v04-epi.hl7'));
  const imms = ofType(entries, 'Immunization');
  t.equal(imms.length, 2);
  const [penta, opv] = imms;
  t.same(penta.vaccineCode.coding[0], { system: 'http://hl7.org/fhir/sid/cvx', code: '102', display: 'DTP-Hib-Hep B' });
  t.equal(penta.status, 'completed');
  t.equal(penta.occurrenceDateTime, '2024-03-10T10:30:00+05:00');
  t.equal(penta.primarySource, true, 'RXA-9 00 (new record)');
  t.equal(penta.lotNumber, 'PENTA-2024-17');
  t.equal(penta.expirationDate, '2026-01-31');
  t.same(penta.manufacturer, { identifier: { system: 'http://terminology.hl7.org/CodeSystem/MVX', value: 'SII' }, display: 'Serum Institute of India' });
  t.same(penta.doseQuantity, { value: 0.5, unit: 'milliliter', system: 'http://unitsofmeasure.org', code: 'mL' });
  t.same(penta.route.coding[0], { system: 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl', code: 'C28161', display: 'Intramuscular' });
  t.same(penta.site.coding[0], { system: 'http://terminology.hl7.org/CodeSystem/v2-0163', code: 'LT', display: 'Left Thigh' });
  t.same(penta.performer.map((p: any) => [p.function.coding[0].code, p.actor.display]), [['AP', 'Nadia Aslam'], ['OP', 'Sana Riaz']]);
  t.equal(penta.identifier[0].value, 'IZ-1001');
  t.equal(penta.patient.reference, urlOf(entries, 'Patient'));
  t.equal(opv.vaccineCode.coding[0].code, '02');
  t.notOk(opv.doseQuantity, 'RXA-6 999: amount unknown');
  t.equal(opv.route.coding[0].code, 'PO');
  const obs = ofType(entries, 'Observation');
  t.equal(obs.length, 2);
  t.same(obs.map((o: any) => o.partOf[0].reference), [entries.find((e) => e.resource === penta)!.fullUrl, entries.find((e) => e.resource === penta)!.fullUrl]);
  t.equal(obs[1].valueDateTime, '2023-08-01');
});

t.test('VXU: refused and not-administered doses, entered in error, and a missing RXA-5 or RXA', async (t) => {
  const base = loadHl7('vxu-v04-epi.hl7');
  const refused = base.replace('|SII^Serum Institute of India^MVX|||CP|A', '|SII^Serum Institute of India^MVX|00^Parental decision^NIP002||RE|A');
  const [r] = ofType(mapped(refused).entries, 'Immunization');
  t.equal(r.status, 'not-done');
  t.equal(r.statusReason.coding[0].code, '00');
  t.same(r4Issues(mapped(refused).bundle as FhirResource), []);
  const deleted = base.replace('|CP|A\r', '|CP|D\r');
  t.equal(ofType(mapped(deleted).entries, 'Immunization')[0].status, 'entered-in-error', 'RXA-21 D');
  const noCode = base.replace('102^DTP-Hib-Hep B^CVX', '');
  t.match(mapToFhir(parseHl7(noCode)), { kind: 'invalid', location: 'RXA-5', errorCode: '101' });
  const noRxa = base.split('\r').filter((s) => !/^(RXA|RXR|OBX)/.test(s)).join('\r');
  t.match(mapToFhir(parseHl7(noRxa)), { kind: 'invalid', location: 'RXA', errorCode: '100' });
});

t.test('segments nobody maps or classifies are named in the Bundle meta.tag, never silently left out', async (t) => {
  const vxu = `${loadHl7('vxu-v04-epi.hl7')}\rZXX|1|registry-private-flag`;
  const { bundle } = mapped(vxu);
  t.ok(bundle.meta.tag.some((tag: any) => tag.system === UNMAPPED_SEGMENT_TAG && tag.code === 'ZXX'), 'ZXX is named');
  t.same(r4Issues(bundle as FhirResource), []);
  const plain = mapped(loadHl7('vxu-v04-epi.hl7')).bundle;
  t.notOk(plain.meta.tag.some((tag: any) => tag.system === UNMAPPED_SEGMENT_TAG), 'none when every segment is understood');
});

t.test('order and schedule messages without their key segment are invalid with a location', async (t) => {
  const msh = (type: string) => `MSH|^~\\&|A|B|C|D|20240101||${type}|1|P|2.5.1\rPID|1||9^^^H`;
  t.match(mapToFhir(parseHl7(msh('ORM^O01'))), { kind: 'invalid', location: 'ORC' });
  t.match(mapToFhir(parseHl7(msh('SIU^S12'))), { kind: 'invalid', location: 'SCH' });
  t.match(mapToFhir(parseHl7(`${msh('OML^O21')}\rORC|NW|1\rOBR|1|1`)), { kind: 'invalid', location: 'OBR-4' });
});
