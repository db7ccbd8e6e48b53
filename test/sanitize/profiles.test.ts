/**
 * Profiles as files: the shipped ones load and compile; bad ones get errors that
 * name the file, the rule and the field (and never a key or a data value).
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProfile, loadProfile, loadProfiles, ProfileError } from '../../src/sanitize/index.js';
import { leaks } from '../fixtures/pk-patients/leak-scanner.js';

const profilesDir = join(process.cwd(), 'policies', 'profiles');
const compile = (doc: object, opts: Record<string, unknown> = {}) => compileProfile(doc, { name: 'bad', ...opts });

t.test('policies/profiles loads by base name, compiled once, keys bound later per destination', async (t) => {
  const all = await loadProfiles(profilesDir);
  t.same([...all.keys()].sort(), ['pk-research', 'safe-harbor']);
  for (const p of all.values()) {
    t.match(p.sha256, /^[0-9a-f]{64}$/);
    t.same(p.needsKeys, ['cryptoHashKey'], `${p.name} needs only a hash key`);
  }
  const bound = all.get('pk-research')!.withKeys({ cryptoHashKey: 'destination-key' });
  const out = bound.apply({ resourceType: 'Patient', id: 'x', name: [{ family: 'Khan' }] });
  t.same(out.resource.name, undefined);
});

t.test('safe-harbor leaves no identifying value of a Synthea patient bundle', async (t) => {
  const p = await loadProfile(join(profilesDir, 'safe-harbor.json'), { keys: { cryptoHashKey: 'k' } });
  const dir = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');
  const input = JSON.parse(readFileSync(join(dir, 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json'), 'utf8'));
  const r = leaks(input, p.apply(input).resource);
  t.ok(r.checked > 50);
  t.same(r.leaked, []);
});

t.test('unknown keys, methods and settings are errors naming rule and field', async (t) => {
  t.throws(() => compile({ fhirPathRules: [], colour: 'red' }), { name: 'ProfileError', message: /profile bad: unknown key "colour"/ });
  t.throws(() => compile({ fhirPathRules: [], processingError: 'skip' }), /the key is "processingErrors"/);
  t.throws(() => compile({ fhirPathRules: [{ path: 'Patient.name', method: 'obliterate' }] }), /fhirPathRules\[0\]\.method "obliterate" is not one of/);
  t.throws(() => compile({ fhirPathRules: [{ path: 'Patient.name', method: 'redact', span: 3 }] }), /fhirPathRules\[0\]: key "span" is not valid for method redact/);
  t.throws(() => compile({ fhirPathRules: [{ path: 'Patient.name', method: 'substitute' }] }), /fhirPathRules\[0\]\.replaceWith is required/);
  t.throws(() => compile({ fhirPathRules: [{ path: 'Patient.(', method: 'redact' }] }), /fhirPathRules\[0\] \(Patient\.\(\): FHIRPath expression does not parse/);
  t.throws(() => compile({ fhirPathRules: [{ path: 'x', method: 'perturb', span: -1 }] }), /span is required and must be a non-negative number/);
  t.throws(() => compile({ fhirPathRules: [{ path: 'x', method: 'generalize' }] }), /cases is required/);
  t.throws(() => compile({ fhirPathRules: [], parameters: { dateShiftScope: 'file' } }), /no meaning in a gateway/);
  t.throws(() => compile({ fhirPathRules: [], parameters: { salt: 'x' } }), /parameters: unknown key "salt"/);
  t.throws(() => compile({ fhirPathRules: [], fhirVersion: 'Stu3' }), /fhirVersion "Stu3" is not supported/);
  t.throws(() => compile({ fhirPathRules: [], freeText: { scrubb: [] } }), /freeText: unknown key "scrubb"/);
  t.throws(() => compile({ fhirPathRules: [], freeText: { scrub: ['nic'] } }), /freeText\.scrub\[0\]: unknown pattern "nic"/);
  t.throws(() => compile({ fhirPathRules: [], freeText: { scrub: [{ name: 'mine', regex: '(' }] } }), /freeText\.scrub\[0\] \(mine\): regex does not compile/);
  t.throws(() => compile({ fhirPathRules: [], ages: { topCode: 'ninety' } }), /ages\.topCode must be a positive integer/);
});

t.test('literal keys in a profile are refused unless allowed (tests), and never echoed', async (t) => {
  const doc = { fhirPathRules: [{ path: 'Resource.id', method: 'cryptoHash' }], parameters: { cryptoHashKey: 'sekrit-value' } };
  let message = '';
  try {
    compile(doc);
  } catch (err) {
    t.ok(err instanceof ProfileError);
    message = (err as Error).message;
  }
  t.match(message, /parameters\.cryptoHashKey holds a literal key/);
  t.notMatch(message, /sekrit/, 'the key is not echoed');
  t.ok(compile(doc, { allowLiteralKeys: true }).apply({ resourceType: 'Patient', id: 'a' }).resource.id);
  t.throws(() => compile({ fhirPathRules: [], parameters: { encryptKey: 'short' } }, { allowLiteralKeys: true }), /encryptKey must be 128, 192 or 256 bits \(got 40\)/);
});

t.test('files: YAML and JSON errors name the file; two files for one name are refused', async (t) => {
  const dir = t.testdir({
    'broken.yaml': 'fhirPathRules: [ { path: "x", method: keep }\n',
    'dup.json': '\uFEFF{"fhirPathRules": []}',
    'dup.yaml': 'fhirPathRules: []\n',
    'twice.json': '{"fhirPathRules": [\n {"path": "Patient.name", "method": "redact", "method": "keep"}\n]}',
    'twice.yaml': 'fhirPathRules:\n  - { path: Patient.name, method: redact, method: keep }\n',
    'fine.json': '{"a": {"method": 1}, "b": [{"method": 2}, {"method": "x\\"y"}], "method": 3}',
  });
  await t.rejects(loadProfile(join(dir, 'twice.json')), { name: 'ProfileError', message: /key "method" appears twice in one object \(line 2\)/ });
  await t.rejects(loadProfile(join(dir, 'twice.yaml')), { name: 'ProfileError', message: /twice\.yaml: cannot parse YAML/ });
  await t.rejects(loadProfile(join(dir, 'fine.json')), /unknown key "a"/, 'equal keys in different objects are fine (then other errors)');
  await t.rejects(loadProfile(join(dir, 'broken.yaml')), { name: 'ProfileError', message: /broken\.yaml: cannot parse YAML/ });
  t.ok(await loadProfile(join(dir, 'dup.json')), 'a JSON file with a byte-order mark loads');
  await t.rejects(loadProfile(join(dir, 'missing.yaml')), /cannot read \(ENOENT\)/);
  await t.rejects(loadProfiles(dir), /broken\.yaml|two files define profile "dup"/);
  writeFileSync(join(dir, 'broken.yaml'), 'fhirPathRules: []\n');
  for (const f of ['twice.json', 'twice.yaml', 'fine.json']) writeFileSync(join(dir, f), '{"fhirPathRules": []}');
  await t.rejects(loadProfiles(dir), /two files define profile "dup"|two files define profile "twice"/);
});
