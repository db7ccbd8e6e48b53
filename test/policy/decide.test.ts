import t from 'tap';
import { compilePolicy, decide, type PolicyInput } from '../../src/policy/index.js';
import { SYSTEMS, type Classification } from '../../src/model/index.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const data = (over: Partial<Classification> = {}): Classification => ({
  patient: { key: 'k', ids: [] },
  ageYears: 40,
  categories: [],
  labels: [{ system: SYSTEMS.confidentiality, code: 'N' }],
  resourceTypes: ['Bundle', 'Patient'],
  identifiable: true,
  ...over,
});
const input = (over: Partial<PolicyInput> = {}): PolicyInput => ({
  destinationName: 'd',
  destination: { name: 'd', country: 'PK', kind: 'treatment' },
  purpose: 'TREAT',
  classification: data(),
  source: 'lan',
  now: NOW,
  ...over,
});

const POLICY = compilePolicy(
  `darwaza-policy: 1
id: t
version: "7"
title: combining
combining: deny-overrides
default: deny
sanitizeProfiles:
  deid: { deidentifies: true }
  trim: { deidentifies: false }
rules:
  - id: permit-treatment
    description: treatment is fine
    source: s
    status: law
    when: { destination: { kind: treatment } }
    then: { effect: permit }
  - id: deny-minors-abroad
    description: no minors abroad
    source: s
    status: law
    when: { destination: { country: { not: [PK] } }, data: { ageUnder: 18 } }
    then: { effect: deny, reason: minors stay home }
  - id: deid-research
    description: research is de-identified
    source: s
    status: law
    when: { destination: { kind: research } }
    then: { effect: permit, obligations: [ { sanitize: deid } ] }
  - id: no-identifiable-abroad
    description: identifiable stays
    source: s
    status: law
    when: { destination: { country: { not: [PK] } }, data: { identifiable: true } }
    then: { effect: deny, reason: stays home }
  - id: consent
    description: consent
    source: s
    status: law
    when: { data: { identifiable: true } }
    then: { obligations: [ { require-consent: { categories: of-data } } ] }
  - id: label-psy
    description: label psy
    source: s
    status: law
    when: { data: { labels: [PSY] } }
    then: { obligations: [ { label: [NORDSCLCDS] }, { seal: false } ] }
`,
  't.policy.yaml',
);

t.test('nothing matched means deny, with a reason that says so', async (t) => {
  const d = decide(POLICY, input({ destination: { name: 'd', country: 'PK', kind: 'registry' } }));
  t.equal(d.effect, 'deny');
  t.same(d.ruleIds, []);
  t.match(d.reasons[0].text, /no rule permits/);
  t.same(d.obligations, []);
  t.same(d.policy, { id: 't', version: '7', sha256: POLICY.sha256 });
});

t.test('deny overrides a permit, and a denial carries no obligations', async (t) => {
  const d = decide(POLICY, input({ destination: { name: 'd', country: 'AE', kind: 'treatment' }, classification: data({ ageYears: 10 }) }));
  t.equal(d.effect, 'deny');
  t.same(d.ruleIds, ['deny-minors-abroad', 'no-identifiable-abroad'], 'every denying rule is named');
  t.same(d.reasons.map((r) => r.text), ['minors stay home', 'stays home']);
  t.same(d.obligations, []);
});

t.test('obligations of every matching rule accumulate on a permit; seal defaults to required', async (t) => {
  const plain = decide(POLICY, input());
  t.equal(plain.effect, 'permit');
  t.same(plain.ruleIds, ['permit-treatment', 'consent']);
  t.same(plain.obligations, [
    { kind: 'require-consent', purposes: ['TREAT'], scope: 'patient-privacy', ruleId: 'consent' },
    { kind: 'seal', required: true, ruleId: 'default:seal' },
  ]);
  const psy = decide(POLICY, input({ classification: data({ categories: ['mental-health'], labels: [{ system: SYSTEMS.confidentiality, code: 'R' }, { system: SYSTEMS.actCode, code: 'PSY' }] }) }));
  t.same(psy.obligations.map((o) => o.kind), ['require-consent', 'label', 'seal']);
  t.match(psy.obligations[0], { categories: ['mental-health'] });
  t.match(psy.obligations[2], { kind: 'seal', required: false, ruleId: 'label-psy' }, 'a rule may set sealing explicitly');
});

t.test('a de-identifying rule changes what the other rules judge', async (t) => {
  const abroad = decide(POLICY, input({ destination: { name: 'r', country: 'DE', kind: 'research' } }));
  t.equal(abroad.effect, 'permit', 'identifiable data may go abroad because it leaves de-identified');
  t.equal(abroad.deidentifiedBy, 'deid-research');
  t.same(abroad.obligations.map((o) => o.kind), ['sanitize', 'seal'], 'no consent needed for de-identified data');
  const minor = decide(POLICY, input({ destination: { name: 'r', country: 'DE', kind: 'research' }, classification: data({ ageYears: 12 }) }));
  t.equal(minor.effect, 'deny', 'other denials still apply to the de-identified form');
  t.same(minor.ruleIds, ['deny-minors-abroad']);
});

t.test('an unknown destination matches no destination condition, not even "not PK"', async (t) => {
  const d = decide(POLICY, input({ destination: undefined, destinationName: 'ghost' }));
  t.equal(d.effect, 'deny');
  t.same(d.ruleIds, []);
  const step = d.trace.find((s) => s.ruleId === 'no-identifiable-abroad')!;
  t.equal(step.matched, false);
  t.same(step.failed, { field: 'destination.country', text: "the destination's country is not PK", actual: '(unknown)' });
  t.match(d.destinationFacts, /ghost \(not in the gateway configuration: unknown\)/);
});

t.test('an unknown label is seen by the unknownLabels condition', async (t) => {
  const p = compilePolicy(
    `darwaza-policy: 1
id: u
version: "1"
title: u
combining: deny-overrides
default: deny
rules:
  - { id: ok, description: d, source: s, status: law, when: {}, then: { effect: permit } }
  - { id: unknown, description: d, source: s, status: law, when: { data: { unknownLabels: true } }, then: { effect: deny, reason: r } }
`,
    'u',
  );
  t.equal(decide(p, input()).effect, 'permit');
  const odd = data({ labels: [{ system: 'http://example.org', code: 'X' }] });
  t.equal(decide(p, input({ classification: odd })).effect, 'deny');
  const noSystem = data({ labels: [{ code: 'R' }] });
  t.equal(decide(p, input({ classification: noSystem })).effect, 'deny', 'a label without a system is unknown');
});

t.test('decide is pure: same input, same answer, input untouched; the trace has one step per rule', async (t) => {
  const i = input({ classification: data({ categories: ['genetics'] }) });
  const before = JSON.stringify(i);
  const a = decide(POLICY, i);
  const b = decide(POLICY, i);
  t.same(a, b);
  t.equal(JSON.stringify(i), before);
  t.equal(a.trace.length, POLICY.rules.length);
  t.same(a.trace.map((s) => s.phase), ['form', 'main', 'main', 'main', 'main', 'main'], 'de-identifying rules are judged first');
});

t.test('a time window matches by local time, across midnight too, and explains what it saw', async (t) => {
  const p = compilePolicy(
    `darwaza-policy: 1
id: hours
version: "1"
title: hours
combining: deny-overrides
default: deny
rules:
  - id: staffed-hours
    description: the AI service receives data only while staff can review it
    source: inferred
    status: inferred
    when: { destination: { kind: ai-service }, time: { timezone: Asia/Karachi, hours: "08:00-20:00", days: [mon, tue, wed, thu, fri] } }
    then: { effect: permit }
  - id: night-batch
    description: the registry takes its batch at night
    source: inferred
    status: inferred
    when: { destination: { kind: registry }, time: { timezone: Asia/Karachi, hours: "22:00-06:00" } }
    then: { effect: permit }
`,
    'h',
  );
  const ai = { name: 'ai', country: 'PK', kind: 'ai-service' as const };
  const reg = { name: 'reg', country: 'PK', kind: 'registry' as const };
  // 2026-06-01 is a Monday; Karachi is UTC+5.
  t.equal(decide(p, input({ destination: ai, now: new Date('2026-06-01T04:00:00Z') })).effect, 'permit', '09:00 Monday');
  const late = decide(p, input({ destination: ai, now: new Date('2026-06-01T15:30:00Z') }));
  t.equal(late.effect, 'deny', '20:30 Monday');
  t.same(late.trace[0].failed?.actual, 'mon 20:30');
  t.equal(decide(p, input({ destination: ai, now: new Date('2026-06-06T04:00:00Z') })).effect, 'deny', '09:00 Saturday');
  t.equal(decide(p, input({ destination: reg, now: new Date('2026-06-01T20:00:00Z') })).effect, 'permit', '01:00 crosses midnight');
  t.equal(decide(p, input({ destination: reg, now: new Date('2026-06-01T07:00:00Z') })).effect, 'deny', 'noon');
});

t.test('finding 11: an unknown age takes the stricter reading: it matches a denying age rule, never a permitting one', async (t) => {
  const policy = compilePolicy(
    `darwaza-policy: 1
id: ages
version: "1"
title: ages
combining: deny-overrides
default: deny
rules:
  - id: deny-minors-abroad
    description: no minors abroad
    source: test
    status: law
    when: { destination: { country: { not: [PK] } }, data: { ageUnder: 18 } }
    then: { effect: deny, reason: minors stay home }
  - id: permit-adults
    description: adults may go anywhere
    source: test
    status: law
    when: { data: { ageAtLeast: 18 } }
    then: { effect: permit }
  - id: permit-children-to-paediatrics
    description: children to the paediatric registry
    source: test
    status: law
    when: { destination: { name: registry }, data: { ageUnder: 18 } }
    then: { effect: permit }
`,
    'ages.yaml',
  );
  const abroad = decide(policy, input({ destination: { name: 'd', country: 'AE', kind: 'treatment' }, classification: data({ ageYears: null }) }));
  t.equal(abroad.effect, 'deny', 'unknown age abroad is denied as a minor');
  t.same(abroad.ruleIds, ['deny-minors-abroad']);
  const home = decide(policy, input({ classification: data({ ageYears: null }) }));
  t.equal(home.effect, 'deny', 'unknown age does not count as an adult for a permit');
  const registry = decide(policy, input({ destinationName: 'registry', destination: { name: 'registry', country: 'PK', kind: 'treatment' }, classification: data({ ageYears: null }) }));
  t.equal(registry.effect, 'deny', 'nor as a child for a permit');
  const adult = decide(policy, input({ destination: { name: 'd', country: 'AE', kind: 'treatment' }, classification: data({ ageYears: 40 }) }));
  t.equal(adult.effect, 'permit', 'a known adult is permitted abroad');
});
