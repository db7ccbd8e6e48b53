/**
 * A sender cannot make data look safer than it is, at de-identification: what pk-research
 * does not keep does not reach a research destination (allow-list), and the free text it
 * keeps must pass the scanner. The two reported cases, as they were sent:
 *   - an Observation with elements that are not FHIR carrying a name (hospitalPatientName,
 *     contactPersonX.nameText), and a valueString naming a brother;
 *   - free text with a local landline, a record number without an MRN label, and a
 *     15 KB "1 MRN " string that made the old patterns backtrack quadratically.
 */
import t from 'tap';
import { join } from 'node:path';
import { compileProfile, loadProfile } from '../../src/sanitize/index.js';

const keys = { cryptoHashKey: 'research-deid-test-hash-key-0123456789' };
const profilePath = join(process.cwd(), 'policies', 'profiles', 'pk-research.yaml');

const observation = (extra: Record<string, unknown>) => ({
  resourceType: 'Observation',
  id: 'obs-1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: 'Patient/p1' },
  valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  ...extra,
});

t.test('elements that are not FHIR do not pass: hospitalPatientName and contactPersonX.nameText are removed', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const input = observation({ hospitalPatientName: 'Ali Khan', contactPersonX: { nameText: 'Sadia Malik', phoneX: '0300-1234567' } });
  const { resource, changes } = profile.apply(input as never);
  const out = resource as Record<string, any>;
  const json = JSON.stringify(out);
  t.equal(out.hospitalPatientName, undefined, 'hospitalPatientName is removed');
  t.equal(out.contactPersonX, undefined, 'contactPersonX (and its nameText) is removed');
  for (const v of ['Ali', 'Khan', 'Sadia', 'Malik', '1234567']) t.notOk(json.includes(v), `${v} is not in the output`);
  t.same(out.valueQuantity, input.valueQuantity, 'the clinical value stays');
  t.same(out.code.coding[0].code, '8867-4', 'the code stays');
  t.ok(
    changes.some((c) => c.method === 'allowList' && c.path.startsWith('Observation.hospitalPatientName')),
    'the change list says allow-list mode removed it (no value in it)',
  );
  t.ok((out.meta?.security ?? []).some((c: { code: string }) => c.code === 'REDACTED'), 'labelled REDACTED');
});

t.test('a brother named in valueString is not let through ("Imran Qureshi of Model Town")', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const input = observation({ valueQuantity: undefined, valueString: 'Lives with brother Imran Qureshi of Model Town, who brings him to clinic' });
  const out = profile.apply(input as never).resource as Record<string, any>;
  const json = JSON.stringify(out);
  for (const v of ['Imran', 'Qureshi', 'Model Town']) t.notOk(json.includes(v), `${v} is not in the output`);
  t.equal(out.valueString, undefined, 'the flagged value is removed whole (allow-list mode drops flagged free text)');
  // the same sentence without a name passes
  const clean = profile.apply(observation({ valueQuantity: undefined, valueString: 'Lives with his brother, who brings him to clinic' }) as never).resource as Record<string, any>;
  t.equal(clean.valueString, 'Lives with his brother, who brings him to clinic', 'a note naming no one is kept');
});

t.test('the scanner finds a local landline and a record number without an MRN label', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const cases: Array<[string, string]> = [
    ['landline 042-35761234', 'Call the ward on 042-35761234 after 5 pm'],
    ['landline (042) 3576 1234', 'Call the ward on (042) 3576 1234 after 5 pm'],
    ['landline 051-2345678', 'Islamabad office 051-2345678'],
    ['landline 021-34567890', 'Karachi office 021-34567890'],
    ['file no MH-2023-778812', 'Old notes are in file no MH-2023-778812 at the records room'],
    ['record MH-2023-778812', 'see record: MH-2023-778812'],
  ];
  for (const [label, text] of cases) {
    const out = profile.apply(observation({ valueQuantity: undefined, valueString: text }) as never).resource as Record<string, any>;
    t.equal(out.valueString, undefined, `${label}: flagged, the value is removed`);
  }
  // in rules mode (redact, not drop) the same patterns replace just the number and keep the label
  const doc = { fhirPathRules: [], freeText: { scrub: ['pk-landline', 'mrn-context'], scrubKnownIdentities: false } };
  const rules = compileProfile(doc, { name: 'rules' });
  const out = rules.apply({ resourceType: 'Observation', status: 'final', valueString: 'file no MH-2023-778812; ward 042-35761234' } as never).resource as Record<string, any>;
  t.equal(out.valueString, 'file no [redacted]; ward [redacted]');
  // a hospital's own prefix catches its ids anywhere, label or not
  const withPrefix = compileProfile({ fhirPathRules: [], freeText: { scrub: [], scrubKnownIdentities: false, mrn: { prefixes: ['SKM'] } } }, { name: 'p' });
  const o2 = withPrefix.apply({ resourceType: 'Observation', status: 'final', valueString: 'transferred, SKM-0045123 attached' } as never).resource as Record<string, any>;
  t.equal(o2.valueString, 'transferred, [redacted] attached');
});

t.test('the 15 KB "1 MRN " string is scanned at once (it took 1.3 s when the patterns backtracked)', async (t) => {
  const profile = await loadProfile(profilePath, { keys });
  const hostile = ('1 MRN ' + ' '.repeat(60)).repeat(Math.ceil(15_000 / 66)).slice(0, 15_000);
  const once = () => {
    const t0 = performance.now();
    profile.apply(observation({ valueQuantity: undefined, valueString: hostile }) as never);
    return performance.now() - t0;
  };
  once(); // warm up (compiles regexes)
  const times = [once(), once(), once()].sort((a, b) => a - b);
  // A generous bound for a noisy shared machine: linear scanning takes a few ms here.
  t.ok(times[1] < 250, `median ${times[1].toFixed(1)} ms for 15 KB`);
  const single = '1 MRN' + ' '.repeat(15_000);
  const t0 = performance.now();
  profile.apply(observation({ valueQuantity: undefined, valueString: single }) as never);
  t.ok(performance.now() - t0 < 250, 'one MRN label followed by 15,000 spaces too');
});
