import t from 'tap';
import {
  normalizePatientIdStrings,
  parseFhirDateTime,
  patientIdStrings,
  tokensForIds,
} from '../../src/consent/index.js';
import { classify } from '../../src/classify/index.js';
import { tokenize } from '../fixtures/consents/make.js';

t.test('a patient reference gives Patient/<id> whatever its form', async (t) => {
  t.same(patientIdStrings({ reference: 'Patient/123' }), ['Patient/123']);
  t.same(patientIdStrings({ reference: '123' }), ['Patient/123'], 'a bare id');
  t.same(patientIdStrings({ reference: 'Patient/123/_history/4' }), ['Patient/123']);
  t.same(patientIdStrings({ reference: 'https://h.pk/fhir/Patient/123' }), ['Patient/123', 'https://h.pk/fhir/Patient/123']);
  t.same(patientIdStrings({ reference: 'urn:uuid:ABC-def' }), ['urn:uuid:abc-def']);
  t.same(patientIdStrings({ reference: 'Practitioner/1' }), []);
  t.same(patientIdStrings(null), []);
});

t.test('identifiers give system|value; CNICs are written with dashes', async (t) => {
  t.same(patientIdStrings({ identifier: { system: 'http://hospital/mrn', value: ' 999 ' } }), ['http://hospital/mrn|999']);
  t.same(patientIdStrings({ identifier: { system: 'urn:oid:2.16.586.1.1', value: '1234512345671' } }), [
    'urn:oid:2.16.586.1.1|12345-1234567-1',
    'cnic|12345-1234567-1',
  ]);
  t.same(patientIdStrings({ identifier: { system: 'http://hospital/mrn', value: '1234512345671' } }), ['http://hospital/mrn|1234512345671'], '13 digits under an MRN system are not a CNIC');
  t.same(patientIdStrings({ identifier: { system: 'cnic', value: '12345-1234567-1' } }), ['cnic|12345-1234567-1']);
  t.same(patientIdStrings({ identifier: { value: '77' } }), ['|77']);
  t.same(
    patientIdStrings({ reference: 'Patient/1', identifier: [{ system: 'a', value: '1' }, { system: 'a', value: '1' }] }),
    ['Patient/1', 'a|1'],
  );
});

t.test('already-formed id strings (classification output) normalise to the same strings and tokens', async (t) => {
  const ids = ['Patient/123', 'urn:uuid:AAA', 'http://hospital/mrn|999', 'urn:oid:2.16.586.1.1|1234512345671', 'Patient/123/_history/1'];
  t.same(normalizePatientIdStrings(ids), [
    'Patient/123',
    'urn:uuid:aaa',
    'http://hospital/mrn|999',
    'urn:oid:2.16.586.1.1|12345-1234567-1',
    'cnic|12345-1234567-1',
  ]);
  const fromConsent = tokensForIds(patientIdStrings({ reference: 'Patient/123' }), tokenize);
  const fromMessage = tokensForIds(ids, tokenize);
  t.ok(fromMessage.includes(fromConsent[0]!));
  t.notOk(fromMessage.some((x) => x.includes('123')), 'tokens do not contain the id');
});

t.test('FHIR dates: partial values cover their span in the appliance zone; invalid ones are null', async (t) => {
  const day = parseFhirDateTime('2026-03-01')!;
  t.equal(new Date(day.start).toISOString(), '2026-02-28T19:00:00.000Z');
  t.equal(new Date(day.end).toISOString(), '2026-03-01T18:59:59.999Z');
  const year = parseFhirDateTime('2026', 'UTC')!;
  t.equal(new Date(year.end).toISOString(), '2026-12-31T23:59:59.999Z');
  const leap = parseFhirDateTime('2028-02', '+00:00')!;
  t.equal(new Date(leap.end).toISOString(), '2028-02-29T23:59:59.999Z');
  const dec = parseFhirDateTime('2026-12-31', 'Asia/Karachi')!;
  t.equal(new Date(dec.end).toISOString(), '2026-12-31T18:59:59.999Z');
  const ms = parseFhirDateTime('2026-03-01T10:00:00.250-03:30')!;
  t.equal(new Date(ms.start).toISOString(), '2026-03-01T13:30:00.250Z');
  for (const bad of ['2026-02-29', '2026-00', '2026-01-01T10:00', '2026-01-01T10:00:00+15:00', 'yesterday', 20260101]) {
    t.equal(parseFhirDateTime(bad), null, String(bad));
  }
});

t.test('a consent and classification of the same patient meet on at least one token', async (t) => {
  const patient = {
    resourceType: 'Patient',
    id: 'p-77',
    identifier: [
      { system: 'urn:oid:2.16.586.1.1', value: '35202-7654321-9' },
      { system: 'http://hospital/mrn', type: { coding: [{ code: 'MR' }] }, value: 'MRN-5' },
    ],
  };
  const ids = classify(patient).patient!.ids;
  const message = new Set(tokensForIds(ids, tokenize));
  const raw = new Set(ids.map(tokenize));
  const consents = [
    { reference: 'Patient/p-77' },
    { identifier: { system: 'http://nadra.gov.pk/cnic', value: '3520276543219' } },
    { identifier: { system: 'cnic', value: '35202-7654321-9' } },
    { identifier: { system: 'http://hospital/mrn', value: 'MRN-5' } },
  ];
  for (const ref of consents) {
    const mine = tokensForIds(patientIdStrings(ref), tokenize);
    t.ok(mine.some((x) => message.has(x)), `normalised: ${JSON.stringify(ref)}`);
    // A weak local id meets only in its source-namespaced form: never as the raw string.
    if (ref.reference) t.notOk(mine.some((x) => raw.has(x)), `a local reference never matches un-namespaced: ${JSON.stringify(ref)}`);
    else t.ok(mine.some((x) => raw.has(x)), `even un-normalised classification ids: ${JSON.stringify(ref)}`);
  }
});

t.test('date-only values follow a DST zone when one is configured', async (t) => {
  // Europe/London moves to BST (+01:00) at 01:00 UTC on 29 March 2026: that day is 23 hours long.
  const day = parseFhirDateTime('2026-03-29', 'Europe/London')!;
  t.equal(new Date(day.start).toISOString(), '2026-03-29T00:00:00.000Z');
  t.equal(new Date(day.end).toISOString(), '2026-03-29T22:59:59.999Z');
  const autumn = parseFhirDateTime('2026-10-25', 'Europe/London')!;
  t.equal(new Date(autumn.start).toISOString(), '2026-10-24T23:00:00.000Z');
  t.equal(new Date(autumn.end).toISOString(), '2026-10-25T23:59:59.999Z', '25 hours long');
  t.equal(new Date(parseFhirDateTime('2026-07-01', '-03:30')!.start).toISOString(), '2026-07-01T03:30:00.000Z');
});
