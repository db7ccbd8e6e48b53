/** The patient is found wherever a sender puts it. */
import t from 'tap';
import { classify } from '../../src/classify/index.js';
import { CNIC, NOW, b64, hivBundle, hivCondition, patient } from './helpers.js';

const key = `cnic|${CNIC}`;
const obs = (extra: Record<string, unknown> = {}) => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] }, ...extra });

t.test('nested Bundles at any depth', async (t) => {
  let b: Record<string, unknown> = hivBundle();
  for (let i = 0; i < 50; i++) b = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: b }] };
  const c = classify(b as never, { now: NOW });
  t.equal(c.patient?.key, key);
  t.same(c.categories, ['hiv-sti']);
});

t.test('a Patient in the contained of a contained resource', async (t) => {
  const c = classify(obs({ contained: [{ resourceType: 'Provenance', contained: [patient()] }] }) as never, { now: NOW });
  t.equal(c.patient?.key, key);
});

t.test('a Bundle inside Parameters', async (t) => {
  const c = classify({ resourceType: 'Parameters', parameter: [{ name: 'x', resource: hivBundle() }] }, { now: NOW });
  t.equal(c.patient?.key, key);
  t.same(c.categories, ['hiv-sti']);
});

t.test('RelatedPerson alone is identifiable', async (t) => {
  const c = classify({ resourceType: 'RelatedPerson', name: [{ text: 'Imran Khan' }], patient: { reference: 'Patient/ali' } }, { now: NOW });
  t.equal(c.identifiable, true);
  t.ok(c.patient?.ids.includes('Patient/ali'));
});

t.test('subject by identifier, with odd whitespace, dashes and Urdu or full-width digits', async (t) => {
  const forms = ['35202 1234567 1', '35202‐1234567‐1', '35202\u200b-1234567-1', '۳۵۲۰۲-۱۲۳۴۵۶۷-۱', '３５２０２-１２３４５６７-１', '35202\u00a01234567\u00a01'];
  for (const value of forms) {
    const c = classify(obs({ subject: { identifier: { value } } }) as never, { now: NOW });
    t.equal(c.patient?.key, key, JSON.stringify(value));
  }
});

t.test('narrative with a CNIC, a phone number or a titled name', async (t) => {
  const nar = (div: string) => obs({ text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${div}</div>` } });
  const c = classify(nar(`Patient CNIC <b>${CNIC}</b>`) as never, { now: NOW });
  t.equal(c.patient?.key, key, 'a CNIC in narrative gives the patient');
  for (const div of ['call 0300-1234567', 'Mr Ali Khan', 'Name: Ayesha']) {
    const x = classify(nar(div) as never, { now: NOW });
    t.equal(x.identifiable, true, div);
    t.ok(x.reasons?.some((r) => r.includes('narrative')), `${div}: narrative named in the reasons`);
  }
  const org = classify({ resourceType: 'Organization', text: { status: 'generated', div: `<div>owner CNIC ${CNIC}</div>` } }, { now: NOW });
  t.equal(org.identifiable, true, 'a CNIC counts even in a directory resource');
});

t.test('DocumentReference attachment with base64 text that names a CNIC', async (t) => {
  const doc = {
    resourceType: 'DocumentReference',
    status: 'current',
    content: [{ attachment: { contentType: 'text/plain', data: b64(`Referral for ${CNIC}, HIV clinic`) } }],
  };
  const c = classify(doc, { now: NOW });
  t.equal(c.patient?.key, key);
  t.equal(c.opaque, false);
});

t.test('an attachment holding an HL7 v2 message', async (t) => {
  const v2 = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1||3520212345671^^^NADRA^NNPAK||Khan^Ali\rDG1|1||F20^Schizophrenia^I10';
  const c = classify({ resourceType: 'Binary', contentType: 'x-application/hl7-v2+er7', data: b64(v2) }, { now: NOW });
  t.equal(c.patient?.key, key);
  t.same(c.categories, ['mental-health']);
});

t.test('a Binary inside an attachment inside a Binary (recursion)', async (t) => {
  const inner = { resourceType: 'Binary', contentType: 'application/fhir+json', data: b64(hivBundle()) };
  const outer = { resourceType: 'DocumentReference', content: [{ attachment: { contentType: 'application/fhir+json', data: b64(inner) } }] };
  const c = classify(outer, { now: NOW });
  t.equal(c.patient?.key, key);
  t.same(c.categories, ['hiv-sti']);
});

t.test('opaque content is identifiable and flagged', async (t) => {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0, 0, 7, 8])]).toString('base64');
  for (const [what, data] of [['pdf', pdf], ['not base64', '!!not base64!!'], ['binary', Buffer.from([0, 0, 0, 1, 2, 3]).toString('base64')]]) {
    const c = classify({ resourceType: 'Binary', contentType: 'application/octet-stream', data }, { now: NOW });
    t.equal(c.identifiable, true, what);
    t.equal(c.opaque, true, `${what}: opaque`);
    t.ok(c.reasons?.some((r) => r.includes('opaque')), `${what}: the reason says so`);
    t.equal(c.labels[0].code, 'N');
  }
  let deep: Record<string, unknown> = hivBundle();
  for (let i = 0; i < 6; i++) deep = { resourceType: 'Binary', data: b64(deep) };
  const d = classify(deep as never, { now: NOW });
  t.equal(d.opaque, true, 'attachments nested past the limit are opaque, not ignored');
  t.equal(d.identifiable, true);
});

t.test('two patients in one message are both reported', async (t) => {
  const other = patient({ id: 'b', identifier: [{ value: '61101-7654321-9' }] });
  const c = classify({ resourceType: 'Bundle', entry: [{ resource: patient() }, { resource: other }, { resource: hivCondition() }] }, { now: NOW });
  t.equal(c.patients?.length, 2);
  t.ok(c.reasons?.some((r) => r.includes('2 distinct patients')));
  t.notOk(c.patient?.ids.includes('cnic|61101-7654321-9'), "the second patient's id is not mixed into the first's");
});
