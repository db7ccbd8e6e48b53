import t from 'tap';
import { parseHl7, mapToFhir, type ParsedHl7 } from '../../src/hl7v2/index.js';
import { SYSTEMS, type FhirResource } from '../../src/model/index.js';
import { loadHl7 } from '../fixtures/hl7v2/load.js';

type Entry = { fullUrl: string; resource: FhirResource & Record<string, any> };
function mapped(name: string): { entries: Entry[]; bundle: FhirResource } {
  const r = mapToFhir(parseHl7(loadHl7(name)));
  if (r.kind !== 'mapped') throw new Error(`not mapped: ${JSON.stringify(r)}`);
  return { entries: r.bundle.entry as Entry[], bundle: r.bundle };
}
const ofType = (entries: Entry[], type: string) => entries.filter((e) => e.resource.resourceType === type);

t.test('PID maps to a Patient with identifier systems, names, gender, birth date, address and telecom', async (t) => {
  const { entries } = mapped('adt-a01-pk-cnic.hl7');
  const [p] = ofType(entries, 'Patient').map((e) => e.resource);
  t.same(p.identifier[0], {
    use: 'official',
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NNPAK' }] },
    system: SYSTEMS.cnic,
    value: '35202-1234567-1',
    assigner: { display: 'NADRA' },
  }, 'a 13-digit CNIC from NADRA gets the CNIC system and the dashed form');
  t.equal(p.identifier[1].system, 'urn:oid:2.16.586.1.99.1', 'an ISO universal id becomes urn:oid');
  t.equal(p.identifier[1].value, 'MRN-778812');
  t.same(p.name[0], { use: 'official', family: 'خان', given: ['عائشہ'] }, 'the Urdu legal name, in UTF-8');
  t.same(p.name[1], { use: 'usual', family: 'Khan', given: ['Ayesha', 'Bibi'], prefix: ['Mrs'] });
  t.equal(p.gender, 'female');
  t.equal(p.birthDate, '1985-07-04');
  t.same(p.address[0], {
    use: 'home',
    line: ['House 12^Street 5|G-9/4', 'Block B'],
    city: 'اسلام آباد',
    state: 'ICT',
    postalCode: '44000',
    country: 'PK',
  });
  t.same(p.telecom, [
    { system: 'phone', value: '+92 51 2345678', use: 'home' },
    { system: 'phone', value: '+92 300 1234567', use: 'mobile' },
    { system: 'email', value: 'ayesha.khan@example.pk', use: 'home' },
    { system: 'phone', value: '+92 51 7654321', use: 'work' },
  ]);
  t.equal(p.contact[0].name.family, 'Khan', 'NK1 becomes a contact');
});

t.test('a dashed CNIC under custom delimiters is recognised too; a number without NADRA is not a CNIC', async (t) => {
  const { entries } = mapped('adt-a04-custom-delims.hl7');
  const p = ofType(entries, 'Patient')[0].resource;
  const cnic = p.identifier.find((i: any) => i.system === SYSTEMS.cnic);
  t.equal(cnic?.value, '35201-7654321-3');
  t.equal(p.identifier[0].system, 'urn:darwaza:hl7v2:authority:LHR_CLINIC');
  t.equal(p.gender, 'male');
  t.equal(p.birthDate, '1990', 'year-only precision kept');
  const m = parseHl7('MSH|^~\\&|A|B|C|D|20240101||ADT^A04|1|P|2.5\rPID|1||3520212345671^^^SOMEHOSP^MR||X^Y\rPV1|1|O');
  const r = mapToFhir(m);
  t.equal(r.kind, 'mapped');
  const id = ((r as any).bundle.entry[0].resource.identifier[0]);
  t.not(id.system, SYSTEMS.cnic);
  const other = mapToFhir(parseHl7(loadHl7('adt-a04-custom-delims.hl7')), { cnicSystem: 'urn:oid:9.9.9' }) as any;
  t.ok(other.bundle.entry[0].resource.identifier.some((i: any) => i.system === 'urn:oid:9.9.9' && i.value === '35201-7654321-3'), 'the CNIC system is configurable');
});

t.test('PV1 maps to an Encounter with class, period and status from the event', async (t) => {
  const a01 = ofType(mapped('adt-a01-pk-cnic.hl7').entries, 'Encounter')[0].resource;
  t.same(a01.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' });
  t.same(a01.period, { start: '2024-03-15T08:15:00+05:00' });
  t.equal(a01.status, 'in-progress');
  t.equal(a01.identifier[0].value, 'V-2024-0042');
  const a03 = ofType(mapped('adt-a03-discharge.hl7').entries, 'Encounter')[0].resource;
  t.equal(a03.status, 'finished');
  t.same(a03.period, { start: '2024-03-15T08:15:00+05:00', end: '2024-03-20T16:30:00+05:00' });
  const a04 = ofType(mapped('adt-a04-custom-delims.hl7').entries, 'Encounter')[0].resource;
  t.equal(a04.class.code, 'AMB');
  t.same(a04.period, { start: '2024-03-16T10:00:00+05:00' }, 'a time without zone gets the default +05:00');
  t.equal(ofType(mapped('adt-a08-update.hl7').entries, 'Encounter')[0].resource.status, 'in-progress');
});

t.test('OBR maps to a DiagnosticReport and its OBX to Observations, all referencing the Patient', async (t) => {
  const { entries } = mapped('oru-r01-lab-a.hl7');
  const patientUrl = ofType(entries, 'Patient')[0].fullUrl;
  const [report] = ofType(entries, 'DiagnosticReport').map((e) => e.resource);
  const obs = ofType(entries, 'Observation');
  t.equal(obs.length, 5);
  t.same(report.code.coding[0], { system: 'http://loinc.org', code: '57021-8', display: 'CBC W Auto Differential panel - Blood' });
  t.equal(report.status, 'final');
  t.equal(report.effectiveDateTime, '2024-03-17T08:00:00+05:00');
  t.equal(report.issued, '2024-03-17T09:25:00+05:00');
  t.same(report.result.map((r: any) => r.reference), obs.map((o) => o.fullUrl));
  t.same(report.identifier.map((i: any) => i.type.coding[0].code), ['PLAC', 'FILL']);
  for (const e of entries) {
    if (e.resource.resourceType === 'Patient') continue;
    t.equal(e.resource.subject.reference, patientUrl, `${e.resource.resourceType} references the Patient`);
  }
  t.ok(entries.every((e) => /^urn:uuid:[0-9a-f-]{36}$/.test(e.fullUrl)));
});

t.test('OBX value types NM, SN, CE and ST map to quantity (UCUM), comparator, codeable concept and string', async (t) => {
  const obs = ofType(mapped('oru-r01-lab-a.hl7').entries, 'Observation').map((e) => e.resource);
  const [hgb, wbc, plt, abo, comment] = obs;
  t.same(hgb.code.coding[0], { system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' });
  t.same(hgb.valueQuantity, { value: 10.9, unit: 'gram per deciliter', system: 'http://unitsofmeasure.org', code: 'g/dL' });
  t.same(hgb.referenceRange[0].low, { value: 12, unit: 'gram per deciliter', system: 'http://unitsofmeasure.org', code: 'g/dL' });
  t.equal(hgb.referenceRange[0].high.value, 15.5);
  t.same(hgb.interpretation[0].coding[0], { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'L' });
  t.equal(hgb.status, 'final');
  t.equal(wbc.interpretation[0].coding[0].code, 'H');
  t.same(plt.valueQuantity, { value: 450, comparator: '>', unit: 'thousand per microliter', system: 'http://unitsofmeasure.org', code: '10*3/uL' });
  t.equal(plt.status, 'preliminary');
  t.equal(plt.interpretation[0].coding[0].code, 'HH');
  t.same(abo.valueCodeableConcept.coding[0].code, 'A+');
  t.equal(abo.valueCodeableConcept.coding[0].display, 'A Rh positive');
  t.equal(comment.valueString, 'Sample & slide reviewed|see note ^ H~E \\ ok');
  t.equal(comment.status, 'corrected');
});

t.test('SN ratios and ranges, repeated ST values, several OBR groups and repeated flags map as such', async (t) => {
  const { entries } = mapped('oru-r01-lab-b.hl7');
  const reports = ofType(entries, 'DiagnosticReport').map((e) => e.resource);
  t.equal(reports.length, 2);
  t.equal(reports[0].result.length, 4);
  t.equal(reports[1].result.length, 1);
  t.equal(reports[1].status, 'preliminary');
  const obs = ofType(entries, 'Observation').map((e) => e.resource);
  t.same(obs[0].interpretation.map((i: any) => i.coding[0].code), ['H', 'A']);
  t.same(obs[1].valueQuantity.comparator, '<');
  t.same(obs[2].valueRatio, { numerator: { value: 1 }, denominator: { value: 40 } });
  t.equal(obs[3].valueString, 'Line one\nLine two');
  t.notOk(ofType(entries, 'Encounter').length, 'no PV1, no Encounter');
});

t.test('mapping is deterministic: the same message gives the same Bundle', async (t) => {
  const a = mapped('oru-r01-lab-b.hl7').bundle;
  const b = mapped('oru-r01-lab-b.hl7').bundle;
  t.same(a, b);
});

t.test('a message Bundle starts with a MessageHeader when asked', async (t) => {
  const r = mapToFhir(parseHl7(loadHl7('adt-a01-pk-cnic.hl7')), { bundleType: 'message' });
  t.equal(r.kind, 'mapped');
  const b = (r as any).bundle;
  t.equal(b.type, 'message');
  t.equal(b.entry[0].resource.resourceType, 'MessageHeader');
  t.equal(b.entry[0].resource.eventCoding.code, 'A01');
});

t.test('unmapped types are unsupported; bad content is invalid with a location and no PHI', async (t) => {
  t.same(mapToFhir(parseHl7(loadHl7('dft-p03.hl7'))).kind, 'unsupported');
  const bad = (text: string): any => mapToFhir(parseHl7(text));
  const msh = 'MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5';
  t.match(bad(`${msh}\rOBR|1||x|1^a^LN`), { kind: 'invalid', location: 'PID' });
  t.match(bad(`${msh}\rPID|1||||Secret^Name`), { kind: 'invalid', location: 'PID-3' });
  t.match(bad(`${msh}\rPID|1||9^^^H`), { kind: 'invalid', location: 'OBR' });
  const r = bad(`${msh}\rPID|1||9^^^H\rOBR|1|||1^a^LN\rOBX|1|NM|2^b^LN||SECRET-NOT-A-NUMBER`);
  t.match(r, { kind: 'invalid', location: 'OBX-5', errorCode: '102' });
  t.notMatch(r.reason, /SECRET/);
});

t.test('NM with a leading comparator, CQ, ID, an empty value type and unmapped types are handled without rejecting the result', async (t) => {
  const msh = 'MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\rPID|1||9^^^H\rOBR|1|||1^a^LN';
  const r = mapToFhir(
    parseHl7(
      `${msh}\rOBX|1|NM|2^b^LN||<5|mg^^UCUM\rOBX|2|CQ|3^c^LN||12^mL&milliliter&UCUM\rOBX|3|ID|4^d^LN||POS\rOBX|4||5^e^LN||free text\rOBX|5|ED|6^f^LN||^AP^PDF^Base64^JVBERi0=`,
    ),
  ) as any;
  t.equal(r.kind, 'mapped');
  const obs = r.bundle.entry.filter((e: any) => e.resource.resourceType === 'Observation').map((e: any) => e.resource);
  t.same(obs[0].valueQuantity, { value: 5, comparator: '<', unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' });
  t.same(obs[1].valueQuantity, { value: 12, unit: 'milliliter', system: 'http://unitsofmeasure.org', code: 'mL' });
  t.same(obs[2].valueCodeableConcept, { coding: [{ code: 'POS' }] });
  t.equal(obs[3].valueString, 'free text');
  t.equal(obs[4].dataAbsentReason.coding[0].code, 'unsupported');
  t.notOk(JSON.stringify(obs[4]).includes('JVBERi0'), 'the encapsulated data is not copied');
});
