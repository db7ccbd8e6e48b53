/**
 * Hostile senders hide identities where a rule-by-rule profile does not look: elements that
 * are not FHIR, extensions (modifierExtension and the `_x` extensions of primitives too),
 * narrative, attachments, contained resources. pk-research is an allow-list: none of these
 * places reaches a research destination unless the profile keeps it, and what it keeps of
 * free text passes the scanner. Each case plants a marker name and checks it is gone.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { compileProfile, loadProfile } from '../../src/sanitize/index.js';

const keys = { cryptoHashKey: 'hostile-smuggling-hash-key-0123456789' };
const profilePath = join(process.cwd(), 'policies', 'profiles', 'pk-research.yaml');
const profile = await loadProfile(profilePath, { keys });

/** Words that must not survive: a made-up name no lexicon has, so only allow-list removes it. */
const MARK = 'Zorvanek Pellithar';

const base = () => ({
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin' }] },
  valueQuantity: { value: 13.2, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
});

function check(t: Test, label: string, input: Record<string, unknown>) {
  const before = JSON.stringify(input);
  const out = profile.apply(input as never).resource as Record<string, any>;
  const json = JSON.stringify(out);
  for (const w of MARK.split(' ')) t.notOk(json.includes(w), `${label}: ${w} is not in the output`);
  t.equal(JSON.stringify(input), before, `${label}: the input is not mutated`);
  t.equal(out.valueQuantity?.value, 13.2, `${label}: the clinical value stays`);
  return out;
}

t.test('elements that are not FHIR, at any depth', async (t) => {
  check(t, 'top-level string', { ...base(), patientFullName: MARK });
  check(t, 'nested object', { ...base(), x: { y: { z: MARK } } });
  check(t, 'array of strings', { ...base(), aliases: [MARK, 'other'] });
  check(t, 'unknown key inside a kept element', { ...base(), code: { coding: [{ system: 'http://loinc.org', code: '718-7', nurseName: MARK }] } });
  check(t, 'unknown key inside a Quantity', { ...base(), valueQuantity: { value: 13.2, unit: 'g/dL', enteredBy: MARK } });
});

t.test('extensions carrying names: extension, modifierExtension, nested, on kept elements', async (t) => {
  const ext = { url: 'http://example.org/fhir/harmless-looking', valueString: MARK };
  check(t, 'resource extension', { ...base(), extension: [ext] });
  check(t, 'modifierExtension', { ...base(), modifierExtension: [ext] });
  check(t, 'nested extension', { ...base(), extension: [{ url: 'http://example.org/a', extension: [ext] }] });
  const out = check(t, 'extension on a kept Coding', {
    ...base(),
    code: { coding: [{ system: 'http://loinc.org', code: '718-7', extension: [ext] }] },
  });
  t.equal(out.code.coding[0].code, '718-7', 'the Coding itself stays');
  check(t, 'valueHumanName in an extension', { ...base(), extension: [{ url: 'http://example.org/x', valueHumanName: { text: MARK } }] });
  check(t, 'valueCode in an extension (a code type the profile keeps elsewhere)', { ...base(), extension: [{ url: 'http://example.org/x', valueCode: 'Zorvanek' }], modifierExtension: [{ url: 'http://example.org/y', valueCode: 'Pellithar' }] });
});

t.test('_primitive extensions: _status, _birthDate carrying text', async (t) => {
  check(t, '_status extension', { ...base(), _status: { extension: [{ url: 'http://example.org/who', valueString: MARK }] } });
  const patient = {
    resourceType: 'Patient',
    id: 'p1',
    gender: 'female',
    birthDate: '1980-02-03',
    _birthDate: { id: 'b1', extension: [{ url: 'http://example.org/told-by', valueString: MARK }] },
    _gender: { extension: [{ url: 'http://example.org/x', valueString: MARK }] },
  };
  const out = profile.apply(patient as never).resource as Record<string, any>;
  const json = JSON.stringify(out);
  for (const w of MARK.split(' ')) t.notOk(json.includes(w), `Patient: ${w} is not in the output`);
  t.equal(out.birthDate, '1980', 'the birth date keeps its year');
  t.equal(out.gender, 'female', 'gender stays');
  t.equal(out._birthDate, undefined, '_birthDate is gone');
});

t.test('narrative, attachments and contained resources', async (t) => {
  check(t, 'narrative', { ...base(), text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${MARK}</div>` } });
  const media = {
    resourceType: 'Media',
    id: 'm1',
    status: 'completed',
    content: { contentType: 'text/plain', title: MARK, data: Buffer.from(MARK).toString('base64'), url: `http://x/${MARK}` },
  };
  const mOut = JSON.stringify(profile.apply(media as never).resource);
  for (const w of MARK.split(' ')) t.notOk(mOut.includes(w), `Media attachment: ${w} is not in the output`);
  t.notOk(mOut.includes(Buffer.from(MARK).toString('base64')), 'the base64 data is gone');
  check(t, 'valueAttachment', { ...base(), component: [{ code: { text: 'scan' }, valueAttachment: { title: MARK, contentType: 'text/plain' } }] });
  const out = check(t, 'contained Patient and RelatedPerson', {
    ...base(),
    contained: [
      { resourceType: 'Patient', id: 'c1', name: [{ text: MARK }], hospitalRef: MARK, gender: 'male' },
      { resourceType: 'RelatedPerson', id: 'c2', name: [{ family: 'Pellithar' }], relationship: [{ text: 'brother' }], comment: MARK },
    ],
    subject: { reference: '#c1', display: MARK },
  });
  t.equal(out.contained?.[0]?.gender, 'male', 'the contained Patient keeps what the profile keeps');
});

t.test('a resource type that is not FHIR keeps nothing but its type', async (t) => {
  const out = profile.apply({ resourceType: 'PatientNotes', id: 'x', note: MARK, author: { name: MARK } } as never).resource as Record<string, any>;
  t.same(Object.keys(out).filter((k) => k !== 'meta' && k !== 'id'), ['resourceType']);
  t.notOk(JSON.stringify(out).includes('Zorvanek'));
});

t.test('rules mode (Microsoft semantics) is unchanged: what no rule touches stays', async (t) => {
  const rules = compileProfile({ fhirPathRules: [{ path: "nodesByType('HumanName')", method: 'redact' }] }, { name: 'rules' });
  const out = rules.apply({ ...base(), patientFullName: MARK } as never).resource as Record<string, any>;
  t.equal(out.patientFullName, MARK, 'a rules-mode profile keeps an element no rule names (this is why research uses allow-list)');
});

t.test('allow-list mode: profile validation', async (t) => {
  t.throws(() => compileProfile({ mode: 'keep-all', fhirPathRules: [] }, { name: 'x' }), /mode must be "rules" or "allow-list"/);
  t.throws(() => compileProfile({ mode: 'allow-list', fhirPathRules: [], freeText: { drop: false } }, { name: 'x' }), /drop: false is not allowed/);
  const p = compileProfile({ mode: 'allow-list', fhirPathRules: [{ path: 'Observation.status', method: 'keep' }] }, { name: 'x' });
  t.equal(p.spec.freeText?.drop, true, 'an allow-list profile without freeText gets the scanner, dropping');
  t.ok(p.spec.freeText?.nameLexicon && p.spec.freeText?.relatives, 'with the lexicon and relatives');
  const out = p.apply({ ...base(), note: [{ text: 'x' }] } as never).resource as Record<string, any>;
  t.same(Object.keys(out).sort(), ['meta', 'resourceType', 'status'], 'only what is kept leaves');
});
