/** Sensitive codes are found wherever they sit and however they are spelled; one real code per category. */
import t from 'tap';
import { classify, classifyV2 } from '../../src/classify/index.js';
import { ICD, NOW, b64 } from './helpers.js';

const SCT = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const obs = (extra: Record<string, unknown>) => ({ resourceType: 'Observation', subject: { reference: 'Patient/p' }, ...extra });
const coded = (system: string | undefined, code: string) => obs({ code: { coding: [{ ...(system ? { system } : {}), code }] } });

t.test('one published code per category and system', async (t) => {
  const cases: Array<[string | undefined, string, string]> = [
    [ICD, 'F33.1', 'mental-health'],
    [SCT, '310496002', 'mental-health'],
    [LOINC, '44249-1', 'mental-health'],
    [RX, '315952', 'mental-health'],
    [ICD, 'F11.11', 'substance-use'],
    [SCT, '5602001', 'substance-use'],
    [RX, '352364', 'substance-use'],
    [ICD, 'B20', 'hiv-sti'],
    [ICD, 'Z21', 'hiv-sti'],
    [SCT, '86406008', 'hiv-sti'],
    [LOINC, '80203-3', 'hiv-sti'],
    [ICD, 'A53.9', 'hiv-sti'],
    [ICD, 'O03.9', 'sexual-reproductive'],
    [SCT, '19169002', 'sexual-reproductive'],
    [ICD, 'T74.1', 'violence'],
    [ICD, 'Y07.0', 'violence'],
    [ICD, 'Q90.9', 'genetics'],
    [SCT, '190905008', 'genetics'],
  ];
  for (const [system, code, cat] of cases) t.same(classify(coded(system, code) as never, { now: NOW }).categories, [cat], `${system} ${code}`);
  t.same(classify(coded(ICD, 'F17.210') as never, { now: NOW }).categories, [], 'tobacco is not sensitive');
  t.same(classify(coded(ICD, 'J01.90') as never, { now: NOW }).categories, [], 'sinusitis is not sensitive');
});

t.test('spelling tricks: lowercase, no dot, spaces, Unicode digits, odd system spelling', async (t) => {
  for (const code of ['b20', 'B 20', 'f329', 'F32 .9', 'B２０', ' B20 ', 'b20.0']) {
    t.ok(classify(coded(ICD, code) as never, { now: NOW }).categories.length, JSON.stringify(code));
  }
  t.same(classify(coded('HTTP://HL7.ORG/FHIR/SID/ICD-10/', 'B20') as never, { now: NOW }).categories, ['hiv-sti'], 'system with odd case and slash');
  t.same(classify(coded(undefined, 'B20') as never, { now: NOW }).categories, ['hiv-sti'], 'no system at all');
  t.same(classify(coded('http://example.org/local', 'B20') as never, { now: NOW }).categories, ['hiv-sti'], 'an unknown system');
  t.same(classify(coded('http://example.org/local', '86406008') as never, { now: NOW }).categories, ['hiv-sti'], 'a SNOMED code under an unknown system');
  t.same(classify(coded('urn:oid:2.16.840.1.113883.6.238', '2106-3') as never, { now: NOW }).categories, [], 'a race code is not the LOINC hCG test');
});

t.test('codes hidden in extensions, components, contained and nested resources', async (t) => {
  const ext = obs({ extension: [{ url: 'http://example.org/x', valueCodeableConcept: { coding: [{ system: ICD, code: 'F20.0' }] } }] });
  t.same(classify(ext as never, { now: NOW }).categories, ['mental-health'], 'extension valueCodeableConcept');
  const extCoding = obs({ extension: [{ url: 'x', extension: [{ url: 'y', valueCoding: { system: SCT, code: '5602001' } }] }] });
  t.same(classify(extCoding as never, { now: NOW }).categories, ['substance-use'], 'nested extension valueCoding');
  const comp = obs({ component: [{ code: { coding: [{ system: LOINC, code: '25836-8' }] } }] });
  t.same(classify(comp as never, { now: NOW }).categories, ['hiv-sti'], 'Observation.component');
  const contained = obs({ contained: [{ resourceType: 'Condition', code: { coding: [{ system: ICD, code: 'T74.2' }] } }] });
  t.same(classify(contained as never, { now: NOW }).categories, ['violence'], 'contained Condition');
  const attached = { resourceType: 'DocumentReference', content: [{ attachment: { contentType: 'application/fhir+json', data: b64(coded(ICD, 'Q91')) } }] };
  t.same(classify(attached, { now: NOW }).categories, ['genetics'], 'a resource inside an attachment');
});

t.test('HL7 v2: codes in every coded segment, alternates, Z-segments and notes', async (t) => {
  const msh = 'MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5.1\rPID|1||MRN1^^^H^MR||Khan^Ali';
  const cases: Array<[string, string]> = [
    ['DG1|1||F20^Schizophrenia^I10', 'mental-health'],
    ['DG1|1||x^local^L^f10.20^alcohol^I10C', 'substance-use'],
    ['PR1|1||714812005^Induced termination of pregnancy^SCT', 'sexual-reproductive'],
    ['AL1|1|DA|1747692^Descovy^RXNORM', 'hiv-sti'],
    ['OBX|1|CWE|44249-1^PHQ-9^LN||1^x^L', 'mental-health'],
    ['OBX|1|ST|1^note^L||Dx: t74.1 confirmed', 'violence'],
    ['ZDX|1|Q90^Down syndrome^I10', 'genetics'],
    ['NTE|1||history of B20', 'hiv-sti'],
  ];
  for (const [seg, cat] of cases) t.same(classifyV2(`${msh}\r${seg}`, { now: NOW }).categories, [cat], seg);
  const ed = `OBX|1|ED|DOC^doc^L||^application^json^Base64^${b64(coded(ICD, 'B21'))}`;
  t.same(classifyV2(`${msh}\r${ed}`, { now: NOW }).categories, ['hiv-sti'], 'FHIR inside an encapsulated OBX-5');
  const garbage = classifyV2('not an hl7 message at all 35202-1234567-1', { now: NOW });
  t.equal(garbage.opaque, true, 'unparseable v2 is opaque');
  t.equal(garbage.identifiable, true);
  t.equal(garbage.patient?.key, 'cnic|35202-1234567-1', 'a CNIC in unparseable text is still found');
});

t.test('Synthea fixtures keep their categories', async (t) => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = join(process.cwd(), 'test/fixtures/synthea-r4');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const c = classify(JSON.parse(readFileSync(join(dir, f), 'utf8')), { now: NOW });
    t.same(c.categories, f.startsWith('Luisa') ? ['sexual-reproductive'] : [], f);
    t.equal(c.opaque, false, `${f}: its base64 notes are read as text, not opaque`);
  }
});
