import t from 'tap';
import { readFileSync } from 'node:fs';
import { compilePolicy, lintPolicyText, PolicyError, type LintFinding } from '../../src/policy/index.js';

const policy = (rules: string, extra = '') => `darwaza-policy: 1
id: t
version: "1"
title: test
combining: deny-overrides
default: deny
${extra}rules:
${rules}`;

const rule = (body: string, id = 'a') => `  - id: ${id}
    description: d
    source: s
    status: law
${body}`;

const only = (findings: LintFinding[], code: string) => findings.filter((f) => f.code === code);

t.test('the shipped Pakistan pack lints clean', async (t) => {
  const text = readFileSync('policies/pk/pk.policy.yaml', 'utf8');
  t.same(lintPolicyText(text, 'pk.policy.yaml'), []);
});

t.test('an unknown field is named with its line, column and the allowed fields', async (t) => {
  const f = lintPolicyText(policy(rule('    colour: red\n    when: {}\n    then: { effect: permit }\n')), 'x.policy.yaml');
  t.equal(f.length, 1);
  t.match(f[0], { code: 'unknown-field', line: 12, column: 5, severity: 'error' });
  t.match(f[0].message, /unknown field "colour" in rule "a" \(allowed: id, description, source, status/);
  const deep = lintPolicyText(policy(rule('    when: { data: { colour: red } }\n    then: { effect: permit }\n')), 'x.policy.yaml');
  t.match(deep[0], { code: 'unknown-field', line: 12, column: 21 });
});

t.test('bad YAML is reported with its line', async (t) => {
  const f = lintPolicyText(policy(rule('    when: { destination: [ }\n    then: { effect: permit }\n')), 'x.policy.yaml');
  t.ok(f.length >= 1);
  t.match(f[0], { code: 'yaml', line: 12 });
  t.match(f[0].message, /^bad YAML: /);
  const dup = lintPolicyText(policy(rule('    when: {}\n    when: {}\n    then: { effect: permit }\n')), 'x.policy.yaml');
  t.match(dup[0], { code: 'yaml', line: 13 }, 'a repeated key is bad YAML too');
});

t.test('a rule without a source is refused with a plain explanation', async (t) => {
  const text = policy(`  - id: a
    description: d
    status: law
    when: {}
    then: { effect: permit }
`);
  const f = lintPolicyText(text, 'x.policy.yaml');
  t.match(f, [{ code: 'missing-field', line: 8, message: /missing "source" in rule "a": every rule must cite its source/ }]);
});

t.test('a rule shadowed by an earlier deny is found', async (t) => {
  const text = policy(
    rule('    when: { destination: { country: { not: [PK] } } }\n    then: { effect: deny, reason: r }\n') +
      rule('    when: { destination: { country: [AE, US], kind: treatment } }\n    then: { effect: permit }\n', 'b'),
  );
  const f = lintPolicyText(text, 'x.policy.yaml');
  t.match(only(f, 'shadowed'), [{ line: 14, message: /rule "b" is shadowed by earlier rule "a"/ }]);
  const same = policy(
    rule('    when: { purpose: [TREAT, COC] }\n    then: { effect: permit }\n') + rule('    when: { purpose: TREAT, data: { identifiable: true } }\n    then: { effect: permit }\n', 'b'),
  );
  t.equal(only(lintPolicyText(same, 'x'), 'shadowed').length, 1, 'an earlier rule doing exactly the same shadows too');
  const different = policy(
    rule('    when: { purpose: [TREAT, COC] }\n    then: { effect: permit }\n') +
      rule('    when: { purpose: TREAT }\n    then: { obligations: [ { seal: true } ] }\n', 'b'),
  );
  t.same(only(lintPolicyText(different, 'x'), 'shadowed'), [], 'a narrower rule that adds obligations is not shadowed');
  const notCovered = policy(
    rule('    when: { destination: { country: { not: [PK] } }, data: { identifiable: true } }\n    then: { effect: deny, reason: r }\n') +
      rule('    when: { destination: { country: AE } }\n    then: { effect: permit }\n', 'b'),
  );
  t.same(only(lintPolicyText(notCovered, 'x'), 'shadowed'), [], 'a deny that needs identifiable data does not cover every case of b');
});

t.test('a rule that can never match is found', async (t) => {
  const cases = [
    ['    when: { destination: { known: false, country: PK } }\n', /unknown destination has no country/],
    ['    when: { data: { categories: [] } }\n', /empty list/],
    ['    when: { destination: { kind: { not: [treatment, public-health, research, ai-service, registry, other] } } }\n', /excludes every possible value/],
    ['    when: { data: { ageUnder: 18, ageAtLeast: 18 } }\n', /both 18 or older and younger than 18/],
    ['    when: { data: { sensitive: false, categories: [genetics] } }\n', /no sensitive category cannot include/],
  ] as const;
  for (const [when, re] of cases) {
    const f = lintPolicyText(policy(rule(`${when}    then: { effect: permit }\n`)), 'x');
    t.match(only(f, 'never-matches'), [{ message: re }], String(re));
  }
});

t.test('an unknown category, purpose, status or label is an error naming the known values', async (t) => {
  const f = lintPolicyText(policy(rule('    when: { data: { categories: [mental-health, astrology] } }\n    then: { effect: permit }\n')), 'x');
  t.equal(f.length, 1);
  t.match(f[0], { code: 'unknown-value', line: 12, column: 49, message: /unknown value "astrology" .* \(known: mental-health, substance-use/ });
  const p = lintPolicyText(policy(rule('    when: { purpose: TRET, data: { labels: [R, SECRET] } }\n    then: { effect: permit }\n')), 'x');
  t.same(p.map((x) => x.code), ['unknown-value', 'unknown-value']);
  t.match(p[0].message, /"TRET"/);
  t.match(p[1].message, /"SECRET"/);
});

t.test('semantic mistakes: duplicate ids, unknown sanitize profiles, deny without reason, rules that decide nothing', async (t) => {
  const text = policy(
    rule('    when: {}\n    then: { effect: permit, obligations: [ { sanitize: nope } ] }\n') +
      rule('    when: { purpose: TREAT }\n    then: { effect: deny }\n') +
      rule('    when: { purpose: COC }\n    then: {}\n', 'c') +
      rule('    exception: vital interest\n    when: { purpose: HRESCH }\n    then: { effect: deny, reason: r }\n', 'd'),
  );
  const codes = lintPolicyText(text, 'x').map((f) => f.code);
  t.ok(codes.includes('unknown-profile'));
  t.ok(codes.includes('duplicate-id'));
  t.ok(codes.includes('missing-field'), 'deny without reason');
  t.ok(codes.includes('decides-nothing'));
  t.ok(codes.includes('bad-value'), 'an exception on a deny rule');
});

t.test('compilePolicy throws a PolicyError whose message has file:line:column', async (t) => {
  const text = policy(rule('    colour: red\n    when: {}\n    then: { effect: permit }\n'));
  let caught: unknown;
  try {
    compilePolicy(text, 'my.policy.yaml');
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof PolicyError);
  t.match((caught as Error).message, /my\.policy\.yaml:12:5: error: unknown field "colour"/);
  t.equal((caught as PolicyError).findings.length, 1);
});

t.test('JSON policies are accepted and hash the same bytes they are read from', async (t) => {
  const json = JSON.stringify({
    'darwaza-policy': 1, id: 'j', version: '1', title: 'json', combining: 'deny-overrides', default: 'deny',
    rules: [{ id: 'a', description: 'd', source: 's', status: 'inferred', when: {}, then: { effect: 'permit' } }],
  });
  const p = compilePolicy(json, 'j.policy.json');
  t.equal(p.id, 'j');
  t.match(p.sha256, /^[0-9a-f]{64}$/);
  t.equal(compilePolicy(json.replace(/\n/g, '\r\n') + '', 'j').sha256, p.sha256);
  const bad = lintPolicyText(JSON.stringify({ 'darwaza-policy': 1 }), 'j.policy.json');
  t.ok(bad.some((f) => f.code === 'missing-field' && /"rules"/.test(f.message)));
});

t.test('a de-identifying rule denied by an earlier destination rule is shadowed across phases', async (t) => {
  const text = policy(
    rule('    when: { destination: { kind: research } }\n    then: { effect: deny, reason: no research }\n') +
      rule('    when: { destination: { kind: research, country: DE } }\n    then: { effect: permit, obligations: [ { sanitize: deid } ] }\n', 'b'),
    'sanitizeProfiles:\n  deid: { deidentifies: true }\n',
  );
  t.match(only(lintPolicyText(text, 'x'), 'shadowed'), [{ message: /rule "b" is shadowed by earlier rule "a"/ }]);
  const viewDependent = policy(
    rule('    when: { destination: { kind: research }, data: { identifiable: true } }\n    then: { effect: deny, reason: r }\n') +
      rule('    when: { destination: { kind: research }, data: { identifiable: true } }\n    then: { effect: permit, obligations: [ { sanitize: deid } ] }\n', 'b'),
    'sanitizeProfiles:\n  deid: { deidentifies: true }\n',
  );
  t.same(only(lintPolicyText(viewDependent, 'x'), 'shadowed'), [], 'the deny judges the de-identified form, so it does not cover the form rule');
});

t.test('a time window with an unknown time zone or no days is an error', async (t) => {
  const tz = lintPolicyText(policy(rule('    when: { time: { timezone: Mars/Olympus } }\n    then: { effect: permit }\n')), 'x');
  t.match(tz, [{ code: 'bad-value', message: /unknown time zone "Mars\/Olympus"/ }]);
  const days = lintPolicyText(policy(rule('    when: { time: { timezone: UTC, days: [] } }\n    then: { effect: permit }\n')), 'x');
  t.match(only(days, 'never-matches'), [{ message: /no day matches/ }]);
  const hours = lintPolicyText(policy(rule('    when: { time: { timezone: UTC, hours: "8-20" } }\n    then: { effect: permit }\n')), 'x');
  t.ok(hours.length >= 1, 'hours must be HH:MM-HH:MM');
});
