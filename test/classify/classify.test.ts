import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyLabels, classify, classifyEntries, cnicOf, ageInYears } from '../../src/classify/index.js';
import { SYSTEMS, type Coding, type FhirResource } from '../../src/model/index.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');

const condition = (system: string, code: string, extra: Partial<FhirResource> = {}): FhirResource => ({
  resourceType: 'Condition',
  subject: { reference: 'Patient/p1' },
  code: { coding: [{ system, code }] },
  ...extra,
});
const observation = (code: string): FhirResource => ({
  resourceType: 'Observation',
  subject: { reference: 'Patient/p1' },
  code: { coding: [{ system: 'http://loinc.org', code }] },
});
const codes = (labels: Coding[]) => labels.map((l) => l.code);
const ICD = 'http://hl7.org/fhir/sid/icd-10';
const ICDCM = 'http://hl7.org/fhir/sid/icd-10-cm';
const SCT = 'http://snomed.info/sct';

t.test('ICD-10 codes put data in the right sensitive category', async (t) => {
  const cases: Array<[string, string, string[]]> = [
    [ICD, 'F32.9', ['mental-health']],
    [ICD, 'F20', ['mental-health']],
    [ICDCM, 'F10.20', ['substance-use']],
    [ICD, 'F19.2', ['substance-use']],
    [ICDCM, 'F17.210', []], // nicotine is deliberately not sensitive
    [ICD, 'B20', ['hiv-sti']],
    [ICD, 'B24', ['hiv-sti']],
    [ICD, 'A54.9', ['hiv-sti']],
    [ICD, 'A64', ['hiv-sti']],
    [ICD, 'O80', ['sexual-reproductive']],
    [ICDCM, 'Z34.00', ['sexual-reproductive']],
    [ICDCM, 'T74.11XA', ['violence']],
    [ICD, 'Y07.0', ['violence']],
    [ICDCM, 'Z15.01', ['genetics']],
    [ICD, 'J06.9', []],
    [ICD, 'A49', []],
  ];
  for (const [system, code, expected] of cases) {
    t.same(classify(condition(system, code), { now: NOW }).categories, expected, `${code} → ${expected.join(',') || 'nothing sensitive'}`);
  }
});

t.test('SNOMED CT and LOINC samples are recognised', async (t) => {
  t.same(classify(condition(SCT, '36923009'), { now: NOW }).categories, ['mental-health']);
  t.same(classify(condition(SCT, '86406008'), { now: NOW }).categories, ['hiv-sti']);
  t.same(classify(condition(SCT, '5602001'), { now: NOW }).categories, ['substance-use']);
  t.same(classify(condition(SCT, '706893006'), { now: NOW }).categories, ['violence']);
  t.same(classify(observation('75622-1'), { now: NOW }).categories, ['hiv-sti']);
  t.same(classify(observation('44261-6'), { now: NOW }).categories, ['mental-health']);
  t.same(classify(observation('51969-4'), { now: NOW }).categories, ['genetics'], 'a genetic test report is genetics');
  t.same(classify(observation('8302-2'), { now: NOW }).categories, [], 'body height is not sensitive');
});

t.test('identifiable clinical data is N; a sensitive category raises it to R with its tag', async (t) => {
  const plain = classify(condition(SCT, '444814009'), { now: NOW });
  t.equal(plain.identifiable, true);
  t.same(codes(plain.labels), ['N']);
  const hiv = classify(condition(ICD, 'B20'), { now: NOW });
  t.same(codes(hiv.labels), ['R', 'HIV']);
  t.equal(hiv.labels[0].system, SYSTEMS.confidentiality);
  t.equal(hiv.labels[1].system, SYSTEMS.actCode);
  const sti = classify(condition(ICD, 'A54.9'), { now: NOW });
  t.same(codes(sti.labels), ['R', 'STD']);
});

t.test('sensitivity labels already on the data count as categories and are kept', async (t) => {
  const r = condition(SCT, '444814009', {
    meta: { security: [{ system: SYSTEMS.actCode, code: 'PSY' }, { system: 'http://example.org/x', code: 'LOCAL' }] },
  });
  const c = classify(r, { now: NOW });
  t.same(c.categories, ['mental-health']);
  t.same(codes(c.labels), ['R', 'PSY', 'LOCAL'], 'R added, PSY and the unknown local label kept');
});

t.test('labels only go up: an existing V is never replaced by the derived R', async (t) => {
  const r = condition(ICD, 'F32.9', { meta: { security: [{ system: SYSTEMS.confidentiality, code: 'V' }] } });
  t.same(codes(classify(r, { now: NOW }).labels), ['V', 'PSY']);
});

t.test("a sender's de-identified mark does not make content non-identifiable; a patient-free directory message is not identifiable", async (t) => {
  const marked: FhirResource = {
    resourceType: 'Bundle',
    meta: { security: [{ system: SYSTEMS.confidentiality, code: 'L' }, { system: SYSTEMS.observationValue, code: 'ANONYED' }] },
    entry: [{ resource: { resourceType: 'Patient', id: 'x' } }, { resource: condition(ICD, 'F32.9') }],
  };
  const c = classify(marked, { now: NOW });
  // Changed: the old expectation (not identifiable, L kept) trusted the sender's own label.
  t.equal(c.identifiable, true, 'a Patient and a Condition are identifiable whatever the label says');
  t.same(codes(c.labels), ['R', 'PSY'], 'R raised over L; the false ANONYED claim is dropped; sensitivity tag present');
  const contradicted: FhirResource = {
    ...marked,
    entry: [{ resource: { resourceType: 'Patient', id: 'x', meta: { security: [{ system: SYSTEMS.confidentiality, code: 'N' }] } } }],
  };
  t.equal(classify(contradicted, { now: NOW }).identifiable, true, 'an entry labelled N contradicts the de-identified mark');
  const orgs: FhirResource = { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Organization', id: 'o' } }] };
  const o = classify(orgs, { now: NOW });
  t.equal(o.identifiable, false);
  t.equal(o.patient, null);
  t.same(o.labels, []);
});

t.test('CNICs are found in dashed and 13-digit forms and become the patient key', async (t) => {
  t.equal(cnicOf({ value: '35202-1234567-1' }), '35202-1234567-1');
  t.equal(cnicOf({ system: 'http://nadra.gov.pk/cnic', value: '3520212345671' }), '35202-1234567-1');
  t.equal(cnicOf({ type: { coding: [{ code: 'NI' }] }, value: '3520212345671' }), '35202-1234567-1');
  t.equal(cnicOf({ system: 'http://hospital/mrn', value: '3520212345671' }), undefined, '13 digits alone are not enough');
  t.equal(cnicOf({ value: '35202-1234567' }), undefined);
  const patient: FhirResource = {
    resourceType: 'Patient',
    id: 'p1',
    identifier: [
      { system: 'http://hospital/mrn', value: 'MRN-1', type: { coding: [{ code: 'MR' }] } },
      { system: SYSTEMS.cnic, value: '3520212345671' },
    ],
    birthDate: '1990-01-01',
  };
  const c = classify(patient, { now: NOW });
  t.equal(c.patient?.key, 'cnic|35202-1234567-1');
  t.ok(c.patient?.ids.includes('Patient/p1'));
  t.ok(c.patient?.ids.includes('http://hospital/mrn|MRN-1'));
  const viaRef = classify({ resourceType: 'Observation', subject: { identifier: { value: '61101-7654321-9' } } }, { now: NOW });
  t.equal(viaRef.patient?.key, 'cnic|61101-7654321-9', 'a CNIC in a reference identifier is found too');
  const custom = classify({ resourceType: 'Patient', identifier: [{ system: 'urn:x:pk', value: '6110176543219' }] }, { now: NOW, cnicSystems: ['urn:x:pk'] });
  t.equal(custom.patient?.key, 'cnic|61101-7654321-9', 'configured CNIC systems are honoured');
});

t.test('age is counted in whole years and a partial birth date never makes a child older', async (t) => {
  t.equal(ageInYears('2010-06-02', NOW), 15);
  t.equal(ageInYears('2010-06-01', NOW), 16);
  t.equal(ageInYears('2010', NOW), 15, 'birth year alone is read as 31 December');
  t.equal(ageInYears('2010-05', NOW), 16);
  t.equal(ageInYears(undefined, NOW), null);
  t.equal(ageInYears('not a date', NOW), null);
  t.equal(classify({ resourceType: 'Patient', id: 'k', birthDate: '2015-01-01' }, { now: NOW }).ageYears, 11);
});

t.test('applyLabels raises every entry, never lowers, and leaves the input untouched', async (t) => {
  const bundle: FhirResource = {
    resourceType: 'Bundle',
    entry: [
      { fullUrl: 'urn:a', resource: { resourceType: 'Patient', id: 'a', meta: { security: [{ system: SYSTEMS.confidentiality, code: 'V' }] } } },
      { fullUrl: 'urn:b', resource: { resourceType: 'Observation', id: 'b' } },
      { fullUrl: 'urn:c' },
    ],
  };
  const before = JSON.stringify(bundle);
  const out = applyLabels(bundle, [{ system: SYSTEMS.confidentiality, code: 'R' }, { system: SYSTEMS.actCode, code: 'PSY' }]);
  t.equal(JSON.stringify(bundle), before, 'input not mutated');
  t.not(out, bundle);
  const entries = out.entry as Array<{ resource?: FhirResource }>;
  t.same(codes(out.meta!.security!), ['R', 'PSY']);
  t.same(codes(entries[0].resource!.meta!.security!), ['V', 'PSY'], 'V stays V');
  t.same(codes(entries[1].resource!.meta!.security!), ['R', 'PSY']);
  t.same(entries[2], { fullUrl: 'urn:c' }, 'an entry without a resource is left as it is');
  const lowered = applyLabels(out, [{ system: SYSTEMS.confidentiality, code: 'N' }]);
  t.same(codes(lowered.meta!.security!), ['R', 'PSY'], 'applying N to R data keeps R');
  const none = applyLabels(lowered, []);
  t.same(codes(none.meta!.security!), ['R', 'PSY'], 'an empty list removes nothing');
});

t.test('classifyEntries names the entry that carries the sensitive code', async (t) => {
  const bundle: FhirResource = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:p', resource: { resourceType: 'Patient', id: 'p', birthDate: '1980-02-02' } },
      { fullUrl: 'urn:uuid:o', resource: { resourceType: 'Organization', id: 'o' } },
      { fullUrl: 'urn:uuid:c', resource: { ...condition(ICD, 'F32.9'), subject: { reference: 'urn:uuid:p' } } },
      { fullUrl: 'urn:uuid:v', resource: { ...observation('8302-2'), subject: { reference: 'urn:uuid:p' } } },
    ],
  };
  const entries = classifyEntries(bundle, { now: NOW });
  t.equal(entries.length, 4);
  const sensitive = entries.filter((e) => e.classification.categories.length);
  t.same(sensitive.map((e) => [e.index, e.fullUrl]), [[2, 'urn:uuid:c']]);
  t.equal(entries[1].classification.identifiable, false, 'an Organization entry is not about the patient');
  t.equal(entries[3].classification.identifiable, true);
  t.equal(entries[3].classification.ageYears, 46);
  t.same(codes(entries[2].classification.labels), ['R', 'PSY']);
});

t.test('Synthea bundles classify with a patient and plausible categories', async (t) => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
  t.ok(files.length >= 5, 'fixtures are there');
  for (const f of files) {
    const b = JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as FhirResource;
    const c = classify(b, { now: NOW });
    if (f.startsWith('hospital') || f.startsWith('practitioner')) {
      t.equal(c.patient, null, `${f}: no patient`);
      t.equal(c.identifiable, false);
      continue;
    }
    t.ok(c.patient?.key, `${f}: a patient key`);
    t.ok(c.patient?.birthDate, `${f}: a birth date`);
    t.type(c.ageYears, 'number');
    t.equal(c.identifiable, true);
    t.ok(c.resourceTypes.includes('Patient') && c.resourceTypes.includes('Condition'));
    t.ok(['N', 'R'].includes(c.labels[0].code!), `${f}: confidentiality ${c.labels[0].code}`);
    if (f.startsWith('Luisa')) {
      t.same(c.categories, ['sexual-reproductive'], 'a first-trimester miscarriage is reproductive health');
      t.same(codes(c.labels), ['R', 'SEX']);
    } else {
      t.same(c.categories, [], `${f}: nothing sensitive (sinusitis, fractures, obesity)`);
    }
  }
});

t.test('classifyEntries stays index-aligned with Bundle.entry, also past an entry without a resource', async (t) => {
  const bundle: FhirResource = {
    resourceType: 'Bundle',
    entry: [
      { fullUrl: 'urn:p', resource: { resourceType: 'Patient', id: 'p' } },
      { fullUrl: 'urn:empty' },
      { fullUrl: 'urn:c', resource: { ...condition(ICD, 'B20'), subject: { reference: 'urn:p' } } },
    ],
  };
  const entries = classifyEntries(bundle, { now: NOW });
  t.same(entries.map((e) => [e.index, e.fullUrl, e.resourceType]), [[0, 'urn:p', 'Patient'], [1, 'urn:empty', '(none)'], [2, 'urn:c', 'Condition']]);
  t.equal(entries[1].classification.identifiable, false);
  t.same(entries[2].classification.categories, ['hiv-sti']);
});

t.test('odd shapes never throw: wrong types give an empty, non-identifiable answer', async (t) => {
  const odd = [
    { resourceType: 'Bundle', entry: 'nope' },
    { resourceType: 'Bundle', entry: [null, 3, { resource: 'x' }, { resource: { resourceType: 7 } }] },
    { resourceType: 'Patient', meta: 'x', identifier: 'y', birthDate: 19 },
    { resourceType: 'Observation', meta: { security: [null, 'PSY', { code: 'PSY' }] }, subject: 'Patient/1', code: { coding: [{ system: 1, code: 2 }] } },
  ] as unknown as FhirResource[];
  for (const r of odd) {
    const c = classify(r, { now: NOW });
    t.type(c.identifiable, 'boolean');
    t.ok(Array.isArray(c.labels));
  }
  t.same(classifyEntries({ resourceType: 'Observation' }, { now: NOW }), [], 'not a Bundle: no entries');
});

t.test('labels a de-identifier leaves (ABSTRED, REDACTED, ANONYED) are known; an unlisted sensitivity code is not', async (t) => {
  const { isKnownLabel } = await import('../../src/classify/index.js');
  for (const code of ['ABSTRED', 'REDACTED', 'ANONYED', 'CRYTOHASH']) t.ok(isKnownLabel({ system: SYSTEMS.observationValue, code }), code);
  t.ok(isKnownLabel({ system: SYSTEMS.actCode, code: 'NORDSCLCDS' }));
  t.ok(isKnownLabel({ system: SYSTEMS.confidentiality, code: 'R' }));
  t.notOk(isKnownLabel({ system: SYSTEMS.actCode, code: 'TBOO' }), 'a restriction darwaza has no rule for stays unknown');
  t.notOk(isKnownLabel({ system: SYSTEMS.confidentiality, code: 'X' }));
  t.notOk(isKnownLabel({ code: 'R' }));
});
