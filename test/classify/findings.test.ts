import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classify, classifyV2, classifyMessage } from '../../src/classify/index.js';
import { parseHl7, mapToFhir } from '../../src/hl7v2/index.js';
import { CNIC, CONF, NOW, OBSV, b64, codes, hivBundle, hivCondition } from './helpers.js';

t.test('baseline: a plain Bundle of Patient (CNIC) + Condition B20 is identifiable and HIV', async (t) => {
  const c = classify(hivBundle(), { now: NOW });
  t.equal(c.identifiable, true);
  t.equal(c.patient?.key, `cnic|${CNIC}`);
  t.same(c.categories, ['hiv-sti']);
  t.same(codes(c.labels), ['R', 'HIV']);
});

t.test('finding 1: a sender label L or ANONYED does not make the bundle non-identifiable', async (t) => {
  for (const security of [[{ system: CONF, code: 'L' }], [{ system: OBSV, code: 'ANONYED' }], [{ system: CONF, code: 'L' }, { system: OBSV, code: 'ANONYED' }]]) {
    const c = classify(hivBundle({ meta: { security } }), { now: NOW });
    t.equal(c.identifiable, true, security.map((s) => s.code).join('+'));
    t.same(c.categories, ['hiv-sti'], 'the sensitive category still applies');
    t.equal(c.labels[0].code, 'R', 'confidentiality raised to R over the sender L');
    t.notOk(c.labels.some((l) => l.code === 'ANONYED'), 'a false ANONYED claim is not passed on');
    t.ok(c.reasons?.some((r) => r.includes('ignored')), 'the reasons say the label was ignored');
  }
});

t.test('finding 2: the same bundle nested inside a collection Bundle is still found', async (t) => {
  const outer = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: hivBundle() }] };
  const c = classify(outer, { now: NOW });
  t.equal(c.identifiable, true);
  t.equal(c.patient?.key, `cnic|${CNIC}`);
  t.same(c.categories, ['hiv-sti']);
});

t.test('finding 3: a Person with CNIC, name, address and phone is identifiable', async (t) => {
  const person = {
    resourceType: 'Person',
    identifier: [{ system: 'http://nadra.gov.pk/cnic', value: CNIC }],
    name: [{ text: 'Ali Khan' }],
    address: [{ city: 'Lahore' }],
    telecom: [{ system: 'phone', value: '+92 300 1234567' }],
  };
  const c = classify(person, { now: NOW });
  t.equal(c.identifiable, true);
  t.equal(c.patient?.key, `cnic|${CNIC}`);
  t.same(codes(c.labels), ['N']);
});

t.test('finding 4: a Binary whose base64 data is that Bundle is read', async (t) => {
  const c = classify({ resourceType: 'Binary', contentType: 'application/fhir+json', data: b64(hivBundle()) }, { now: NOW });
  t.equal(c.identifiable, true);
  t.equal(c.opaque, false);
  t.equal(c.patient?.key, `cnic|${CNIC}`);
  t.same(c.categories, ['hiv-sti']);
});

t.test('finding 5: an HIV-test Observation whose subject is only a display with a CNIC', async (t) => {
  const obs = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '80203-3' }] },
    subject: { display: `Ali Khan, CNIC ${CNIC}` },
  };
  const c = classify(obs, { now: NOW });
  t.equal(c.identifiable, true);
  t.equal(c.patient?.key, `cnic|${CNIC}`);
  t.same(c.categories, ['hiv-sti']);
  const nameOnly = classify({ ...obs, subject: { display: 'Ali Khan' } }, { now: NOW });
  t.equal(nameOnly.identifiable, true, 'a name alone in the display is identifying too');
});

t.test('finding 6: HL7 v2 ADT^A01 with DG1 B20 is HIV, read in the v2 and in the mapped Condition', async (t) => {
  const base = readFileSync(join(process.cwd(), 'test/fixtures/hl7v2/adt-a01-pk-cnic.hl7'), 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '');
  const text = `${base}\rDG1|1||B20^HIV disease^I10`;
  const v2 = classifyV2(text, { now: NOW });
  t.equal(v2.identifiable, true);
  t.same(v2.categories, ['hiv-sti']);
  t.equal(v2.patient?.key, 'cnic|35202-1234567-1', 'the patient comes from PID-3');
  t.same(classifyV2(parseHl7(text), { now: NOW }).categories, ['hiv-sti'], 'a parsed message works too');
  // The mapping carries the diagnosis as an encounter-diagnosis Condition; the message-level classifier reads both.
  const mapped = mapToFhir(parseHl7(text));
  if (mapped.kind !== 'mapped') throw new Error('the fixture should map');
  const conditions = (mapped.bundle.entry as { resource: { resourceType: string; code?: unknown; encounter?: unknown } }[]).filter((e) => e.resource.resourceType === 'Condition');
  t.equal(conditions.length, 1, 'DG1 becomes one Condition');
  t.match(conditions[0]!.resource, { code: { coding: [{ code: 'B20', system: /icd-10/i }] }, encounter: { reference: /./ } });
  t.same(classify(mapped.bundle, { now: NOW }).categories, ['hiv-sti'], 'the mapped FHIR alone is HIV too');
  const noDiagnosis = mapToFhir(parseHl7(base));
  if (noDiagnosis.kind !== 'mapped') throw new Error('the fixture should map');
  t.notOk((noDiagnosis.bundle.entry as { resource: { resourceType: string } }[]).some((e) => e.resource.resourceType === 'Condition'), 'no DG1, no Condition');
  const both = classifyMessage({ resource: mapped.bundle, v2: text }, { now: NOW });
  t.same(both.categories, ['hiv-sti']);
  t.equal(both.labels[0].code, 'R');
  for (const seg of ['PR1|1||B20^HIV^I10', 'AL1|1||B20^HIV^I10', 'OBX|1|CWE|80203-3^HIV 1+2 Ab^LN||POS', 'OBX|1|CWE|1234^x^L||B20^HIV disease^I10', 'NTE|1||Dx B20 confirmed']) {
    t.same(classifyV2(`${base}\r${seg}`, { now: NOW }).categories, ['hiv-sti'], seg.slice(0, 3));
  }
});

t.test('a plain condition without a patient is still identifiable (unknown patient)', async (t) => {
  const { subject: _s, ...noSubject } = hivCondition();
  const c = classify(noSubject as never, { now: NOW });
  t.equal(c.identifiable, true);
  t.equal(c.patient, null);
  t.ok(c.reasons?.some((r) => r.includes('cannot be determined')));
});
