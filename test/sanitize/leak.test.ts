/**
 * Proof that nothing identifying leaks: every Synthea bundle and every hand-made
 * Pakistani patient goes through pk-research; every identifying value of the input
 * (collected by a plain JSON walk, independent of the engine: names, identifiers,
 * telecoms, addresses below district, exact dates, CNIC- and phone-like strings,
 * Patient ids) must be absent from the output.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProfile, loadProfile } from '../../src/sanitize/index.js';
import { collectIdentifying, leaks } from '../fixtures/pk-patients/leak-scanner.js';

const synthea = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');
const pkDir = join(process.cwd(), 'test', 'fixtures', 'pk-patients');
const keys = { cryptoHashKey: 'leak-test-hash-key-0123456789abcdef', dateShiftKey: 'leak-test-date-key' };
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const profilePath = join(process.cwd(), 'policies', 'profiles', 'pk-research.yaml');

t.test('no identifying value of any Synthea bundle survives pk-research', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const files = readdirSync(synthea).filter((f) => f.endsWith('.json'));
  t.equal(files.length, 5, 'the 3 patient bundles and the hospital and practitioner bundles');
  for (const f of files) {
    const input = read(join(synthea, f));
    const { resource } = profile.apply(input);
    const r = leaks(input, resource);
    t.ok(r.checked >= 50, `${f}: a real set of ${r.checked} identifying values was collected`);
    t.same(r.leaked, [], `${f}: none of them appears in the output`);
  }
});

t.test('no identifying value of the hand-made Pakistani patients survives pk-research', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const files = readdirSync(pkDir).filter((f) => f.endsWith('.json'));
  t.ok(files.length >= 2);
  for (const f of files) {
    const input = read(join(pkDir, f));
    const before = JSON.stringify(input);
    const { resource } = profile.apply(input);
    const r = leaks(input, resource);
    t.ok(r.checked >= 10, `${f}: ${r.checked} identifying values collected`);
    t.same(r.leaked, [], `${f}: none of them appears in the output`);
    t.equal(JSON.stringify(input), before, `${f}: the input is not mutated`);
  }
});

t.test('the Pakistani identifiers are gone from identifiers, notes and narrative alike', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const input = read(join(pkDir, 'zulfiqar-bundle.json'));
  const out = JSON.stringify(profile.apply(input).resource);
  for (const v of ['35202-4455667-3', '3520244556673', '+92 321 4455667', '0300-9988776', '03009988776', 'BX4455667', '4455667-1', 'MH-2023-778812', 'ذوالفقار', 'چوہدری', 'Zulfiqar', 'Chaudhry', 'Gulberg', 'Sadia Malik', '54660', '1961-11-23', '۳۵۲۰۲-۴۴۵۵۶۶۷-۳', '۰۳۲۱-۴۴۵۵۶۶۷', 'Kamran']) {
    t.notOk(out.includes(v), `${v} is not in the output`);
  }
  t.ok(out.includes('"district":"Lahore"') && out.includes('"state":"Punjab"'), 'the address keeps district and province');
  t.ok(out.includes('"birthDate":"1961"'), 'the birth date keeps its year');
  t.ok(out.includes('Hemoglobin A1c'), 'clinical content stays');
  t.notOk(out.includes('"div"'), 'the narrative is dropped');
});

t.test('ages of 90 and over become 90+, and such birth dates lose even their year', async (t) => {
  const profile = await loadProfile(profilePath, { keys, now: () => new Date('2026-01-01T00:00:00Z') });
  const input = read(join(pkDir, 'rukhsana-elderly.json'));
  const out = profile.apply(input).resource as unknown as { entry: Array<{ resource: Record<string, unknown> }> };
  const patient = out.entry[0].resource;
  const condition = out.entry[1].resource;
  t.equal(patient.birthDate, undefined, 'a 1931 birth date shows an age over 89: removed');
  t.same(condition.onsetAge, { value: 90, comparator: '>=', unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' });
  // The note names her and carries her CNIC: flagged, so allow-list mode removes it whole.
  t.equal(condition.note, undefined, 'the note naming her is removed whole');
  // The same ages in a note that names no one: generalized, and the note stays.
  const clean = structuredClone(input) as typeof input;
  (clean as any).entry[1].resource.note = [{ text: 'a 93 year-old woman with a hip fracture' }];
  const out2 = profile.apply(clean).resource as unknown as { entry: Array<{ resource: Record<string, unknown> }> };
  t.match((out2.entry[1].resource.note as Array<{ text: string }>)[0].text, /^a 90\+ year-old woman with a hip fracture$/);
});

t.test('the output records its derivation: labels and a Provenance citing the profile hash', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const input = read(join(pkDir, 'zulfiqar-bundle.json'));
  const { resource, provenance } = profile.apply(input);
  const entries = (resource as unknown as { entry: Array<{ resource: { resourceType: string; meta?: { security?: Array<{ code: string }> } } }> }).entry;
  const last = entries[entries.length - 1].resource as unknown as Record<string, unknown>;
  t.equal(last.resourceType, 'Provenance');
  t.same(last, provenance);
  t.same(last.policy, [`urn:darwaza:sanitize-profile:pk-research#sha256:${profile.sha256}`]);
  t.ok(entries[0].resource.meta?.security?.some((c) => c.code === 'REDACTED'), 'the patient carries REDACTED');
});

t.test('the scanner finds leaks when a profile removes nothing (it can fail)', async (t) => {
  const keepAll = compileProfile({ fhirPathRules: [{ path: 'Resource', method: 'keep' }] }, { name: 'keep-all' });
  for (const input of [read(join(pkDir, 'zulfiqar-bundle.json')), read(join(synthea, readdirSync(synthea).find((f) => f.startsWith('Todd'))!))]) {
    const { values } = collectIdentifying(input);
    const r = leaks(input, keepAll.apply(input).resource);
    t.equal(r.leaked.length, values.size, 'every collected value is found in an unchanged copy');
  }
});

t.test('the collector finds names, identifiers, telecoms, address lines, exact dates, CNIC- and phone-like strings', async (t) => {
  const { values, skippedShort } = collectIdentifying({
    resourceType: 'Patient',
    id: 'pat-123456',
    name: [{ family: 'Qureshi', given: ['Ayesha', 'Al'] }],
    identifier: [{ value: 'MRN-99' }],
    telecom: [{ value: '+92 333 1234567' }],
    address: [{ line: ['Street 4'], city: 'Multan', district: 'Multan', postalCode: '60000' }],
    birthDate: '1990-04-05',
    note: [{ text: 'id 61101-1234567-9 phone 0333-7654321' }, { text: 'شناختی کارڈ ۶۱۱۰۱-۱۲۳۴۵۶۷-۹' }],
  });
  for (const v of ['Qureshi', 'Ayesha', 'MRN-99', '+92 333 1234567', 'Street 4', '60000', '1990-04-05', '61101-1234567-9', '0333-7654321', 'pat-123456', '۶۱۱۰۱-۱۲۳۴۵۶۷-۹']) {
    t.ok(values.has(v), `collects ${v}`);
  }
  t.notOk(values.has('Multan'), 'a city equal to the district is kept by design, not collected');
  t.equal(skippedShort, 1, '"Al" is skipped as too short');
});
