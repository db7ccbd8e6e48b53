import t from 'tap';
import { readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { classify } from '../../src/classify/index.js';
import { decide, explain, loadPolicy, type PolicyDestination } from '../../src/policy/index.js';
import { command } from '../../src/cli/commands/policy.js';
import type { CliIo } from '../../src/cli/command.js';
import { captureIo } from '../helpers/cli.js';
import type { Classification, FhirResource, PurposeOfUse } from '../../src/model/index.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');
const policy = await loadPolicy('policies/pk');

const DEST: Record<string, PolicyDestination> = {
  'national-telemed': { name: 'national-telemed', country: 'PK', kind: 'treatment' },
  'dubai-telemed': { name: 'dubai-telemed', country: 'AE', kind: 'treatment' },
  'eu-research': { name: 'eu-research', country: 'DE', kind: 'research' },
  'pk-ai': { name: 'pk-ai', country: 'PK', kind: 'ai-service' },
};

const run = (destinationName: string, purpose: PurposeOfUse, classification: Classification) =>
  decide(policy, { destinationName, destination: DEST[destinationName], purpose, classification, source: 'lan', now: NOW });

const synthea = (name: string) => {
  const f = readFileSync(join(FIXTURES, name), 'utf8');
  return classify(JSON.parse(f) as FhirResource, { now: NOW });
};
const CAROLEE = 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json';

const depression: FhirResource = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    { fullUrl: 'urn:uuid:p', resource: { resourceType: 'Patient', id: 'p', identifier: [{ value: '35202-1234567-1' }], birthDate: '1980-01-01' } },
    {
      fullUrl: 'urn:uuid:c',
      resource: { resourceType: 'Condition', subject: { reference: 'urn:uuid:p' }, code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'F33.1' }] } },
    },
  ],
};

function capture(): CliIo & { lines: string[]; errs: string[] } {
  const c = captureIo();
  return Object.assign(c.io, { lines: c.out, errs: c.err });
}

t.test('the policy hash is the sha256 of the file and travels in every decision', async (t) => {
  const bytes = readFileSync('policies/pk/pk.policy.yaml');
  t.equal(policy.sha256, createHash('sha256').update(bytes).digest('hex'));
  t.same(run('national-telemed', 'TREAT', synthea(CAROLEE)).policy, { id: 'pk-default', version: policy.version, sha256: policy.sha256 });
});

t.test('identifiable data to a foreign destination is denied', async (t) => {
  const d = run('dubai-telemed', 'TREAT', synthea(CAROLEE));
  t.equal(d.effect, 'deny');
  t.same(d.ruleIds, ['identifiable-data-stays-in-pakistan']);
  t.match(d.reasons[0].text, /may not leave Pakistan/);
  t.same(d.obligations, []);
});

t.test('identifiable data to an unknown destination is denied', async (t) => {
  const d = run('somewhere-else', 'TREAT', synthea(CAROLEE));
  t.equal(d.effect, 'deny');
  t.same(d.ruleIds, ['unknown-destination-denied']);
});

t.test('the demo: a Synthea bundle to national-telemed for TREAT is permitted once consent is satisfied', async (t) => {
  const d = run('national-telemed', 'TREAT', synthea(CAROLEE));
  t.equal(d.effect, 'permit');
  t.same(d.obligations, [
    { kind: 'require-consent', purposes: ['TREAT'], scope: 'patient-privacy', ruleId: 'consent-for-identifiable-data' },
    { kind: 'seal', required: true, ruleId: 'seal-everything' },
  ]);
});

t.test('a mental-health Condition to a treatment destination requires a consent naming the category, and is labelled', async (t) => {
  const c = classify(depression, { now: NOW });
  t.same(c.categories, ['mental-health']);
  t.same(c.labels.map((l) => l.code), ['R', 'PSY'], 'classification raised it to R with PSY');
  const d = run('national-telemed', 'TREAT', c);
  t.equal(d.effect, 'permit');
  const named = d.obligations.find((o) => o.kind === 'require-consent' && o.categories);
  t.match(named, { kind: 'require-consent', categories: ['mental-health'], purposes: ['TREAT'], ruleId: 'sensitive-categories-need-named-consent' });
  t.match(
    d.obligations.find((o) => o.kind === 'label'),
    { labels: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'NORDSCLCDS' }], ruleId: 'no-redisclosure-on-sensitive-data' },
  );
});

t.test('research and AI destinations get a sanitize obligation and no consent requirement', async (t) => {
  for (const dest of ['eu-research', 'pk-ai']) {
    const d = run(dest, 'HRESCH', classify(depression, { now: NOW }));
    t.equal(d.effect, 'permit', dest);
    t.equal(d.deidentifiedBy, 'research-and-ai-get-deidentified-data');
    t.match(d.obligations.find((o) => o.kind === 'sanitize'), { profile: 'pk-research' });
    t.notOk(d.obligations.some((o) => o.kind === 'require-consent'));
  }
});

t.test('emergency treatment is permitted without consent and the exception is visible', async (t) => {
  const d = run('national-telemed', 'ETREAT', classify(depression, { now: NOW }));
  t.equal(d.effect, 'permit');
  t.ok(d.ruleIds.includes('emergency-treatment-vital-interest'));
  t.same(d.exceptions, [{ ruleId: 'emergency-treatment-vital-interest', exception: 'vital interest (emergency treatment)' }]);
  t.notOk(d.obligations.some((o) => o.kind === 'require-consent'));
  t.ok(d.obligations.some((o) => o.kind === 'label'), 'the label still goes on');
  t.match(explain(d), /Legal exception cited: vital interest/);
  t.equal(run('dubai-telemed', 'ETREAT', classify(depression, { now: NOW })).effect, 'deny', 'not across the border');
});

t.test('`darwaza policy test policies/` passes with 100% rule coverage', async (t) => {
  const io = capture();
  const code = await command.run(['test', 'policies'], io);
  t.equal(code, 0, io.errs.join('\n'));
  t.ok(io.lines.includes('rule coverage: 100% (threshold 100%)'), String(io.lines.at(-1)));
  t.match(io.lines.join('\n'), /17 passed, 0 failed/);
});

t.test('a wrong expectation fails the test run and names the case line', async (t) => {
  const dir = t.testdir({});
  mkdirSync(join(dir, 'pk'));
  copyFileSync('policies/pk/pk.policy.yaml', join(dir, 'pk', 'pk.policy.yaml'));
  writeFileSync(
    join(dir, 'pk', 'wrong.test.yaml'),
    `destinations:
  - { name: x, country: AE, kind: treatment }
cases:
  - name: claims foreign identifiable data is permitted
    destination: x
    purpose: TREAT
    data: { identifiable: true }
    expect: { decision: permit }
`,
  );
  const io = capture();
  t.equal(await command.run(['test', dir], io), 1);
  t.match(io.lines.join('\n'), /not ok - claims foreign identifiable data is permitted\n.*wrong\.test\.yaml:4: expected decision permit, got deny/);
});

t.test('coverage below the threshold fails and lists the rules no test exercises', async (t) => {
  const dir = t.testdir({});
  copyFileSync('policies/pk/pk.policy.yaml', join(dir, 'pk.policy.yaml'));
  writeFileSync(
    join(dir, 'one.test.yaml'),
    `cases:
  - name: unknown destination
    destination: nowhere
    data: { identifiable: true }
    expect: { decision: deny }
`,
  );
  const io = capture();
  t.equal(await command.run(['test', dir], io), 1);
  t.match(io.lines.join('\n'), /rule coverage: 27.3% \(threshold 100%\); no test exercises: unknown-label-denied, opaque-data-denied, research-and-ai-get-deidentified-data/);
  const relaxed = capture();
  t.equal(await command.run(['test', dir, '--coverage', '27'], relaxed), 0, 'a lower threshold passes');
});

t.test('`darwaza policy lint` passes the shipped pack and fails a broken file with file:line:column', async (t) => {
  const ok = capture();
  t.equal(await command.run(['lint', 'policies'], ok), 0);
  t.same(ok.lines, ['1 file ok']);
  const dir = t.testdir({ 'bad.policy.yaml': readFileSync('policies/pk/pk.policy.yaml', 'utf8').replace('    status: inferred\n', '    status: inferred\n    colour: red\n') });
  const bad = capture();
  t.equal(await command.run(['lint', join(dir, 'bad.policy.yaml')], bad), 1);
  t.match(bad.lines[0], /bad\.policy\.yaml:\d+:5: error: unknown field "colour" in rule "unknown-destination-denied"/);
  const missing = capture();
  t.equal(await command.run(['lint', join(dir, 'nope.yaml')], missing), 3);
});

t.test('`darwaza policy explain` prints the trace in plain words for a destination from a config', async (t) => {
  const dir = t.testdir({
    'gateway.config.json': JSON.stringify({ policy: { path: join(process.cwd(), 'policies/pk') }, destinations: [{ name: 'national-telemed', url: 'https://x', country: 'PK', kind: 'treatment' }] }),
    'msg.json': JSON.stringify(depression),
  });
  const io = capture();
  const code = await command.run(['explain', '--message', join(dir, 'msg.json'), '--destination', 'national-telemed', '--config', join(dir, 'gateway.config.json'), '--now', NOW.toISOString()], io);
  t.equal(code, 0, io.errs.join('\n'));
  const text = io.lines.join('\n');
  t.equal(text.match(/^\d+\. Rule "/gm)?.length, policy.rules.length, 'one entry per rule considered');
  t.match(text, /Decision: PERMIT, by rule "treatment-in-pakistan"/);
  t.match(text, /naming mental-health must permit it \[sensitive-categories-need-named-consent\]/);
  const unknown = capture();
  await command.run(['explain', '--message', join(dir, 'msg.json'), '--destination', 'elsewhere', '--config', join(dir, 'gateway.config.json')], unknown);
  t.match(unknown.lines.join('\n'), /Decision: DENY\. the destination is not in the gateway configuration/);
  const usage = capture();
  t.equal(await command.run(['explain', '--destination', 'x'], usage), 2);
  const badPurpose = capture();
  t.equal(await command.run(['explain', '--message', 'm', '--destination', 'x', '--purpose', 'FUN'], badPurpose), 2);
});

t.test('the policy command answers --help, and an unknown subcommand is a usage error', async (t) => {
  const help = capture();
  t.equal(await command.run(['--help'], help), 0);
  t.match(help.lines[0], /^darwaza policy <command>/);
  const sub = capture();
  t.equal(await command.run(['lint', '--help'], sub), 0);
  const none = capture();
  t.equal(await command.run([], none), 2);
  const unknown = capture();
  t.equal(await command.run(['frobnicate'], unknown), 2);
  t.match(unknown.errs[0], /unknown policy command "frobnicate"/);
  const badFlag = capture();
  t.equal(await command.run(['test', '--nope'], badFlag), 2);
});

t.test('a typo in a test case fails the case instead of passing vacuously', async (t) => {
  const dir = t.testdir({});
  copyFileSync('policies/pk/pk.policy.yaml', join(dir, 'pk.policy.yaml'));
  writeFileSync(
    join(dir, 'typo.test.yaml'),
    `cases:
  - name: misspelt expectation
    destination: nowhere
    data: { identifiable: true, catgories: [genetics] }
    expect: { decison: permit }
  - name: no expectation at all
    destination: nowhere
  - name: unknown obligation kind and consent state
    destination: nowhere
    consent: maybe
    expect: { obligations: [encrypt] }
`,
  );
  const io = capture();
  t.equal(await command.run(['test', dir, '--coverage', '0'], io), 1);
  const text = io.lines.join('\n');
  t.match(text, /unknown field "decison" in expect/);
  t.match(text, /unknown field "catgories" in data/);
  t.match(text, /the case expects nothing/);
  t.match(text, /unknown obligation "encrypt"/);
  t.match(text, /consent must be permit, deny or none/);
  t.match(text, /0 passed, 3 failed/);
});
