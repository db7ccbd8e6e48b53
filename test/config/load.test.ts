import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, ConfigError, gatewayConfigSchema, DEMO_CONFIG } from '../../src/config/index.js';

const write = (dir: string, value: unknown) => {
  const file = join(dir, 'gateway.config.json');
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
};

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

t.test('the repository config loads with the demo defaults', async (t) => {
  const c = loadConfig('gateway.config.json');
  t.same(c.listen.lan, { host: '127.0.0.1', port: 8080 });
  t.same(c.listen.admin, { host: '127.0.0.1', port: 9090 });
  t.same(c.listen.mllp, { host: '127.0.0.1', port: 2575 });
  t.same(c.simulator.listen, { host: '127.0.0.1', port: 9443 });
  t.equal(c.destinations[0].name, 'national-telemed');
  t.equal(c.destinations[0].country, 'PK');
  t.ok(c.dataDir.endsWith('/data'), 'dataDir resolved against the config folder');
  t.equal(c.limits.requestTimeoutMs, 30000, 'defaults filled in for omitted limits');
});

t.test('the published schema is the one the loader uses', async (t) => {
  const published = JSON.parse(readFileSync('schemas/gateway.config.schema.json', 'utf8'));
  t.same(published, JSON.parse(JSON.stringify(gatewayConfigSchema)), 'run `npm run schemas` after changing src/config/schema.ts');
  t.same(JSON.parse(readFileSync('gateway.config.json', 'utf8')), JSON.parse(JSON.stringify(DEMO_CONFIG)));
});

t.test('an unknown field is named with its line and the fields expected there', async (t) => {
  const dir = t.testdir();
  const bad = { ...DEMO_CONFIG, limits: { ...DEMO_CONFIG.limits, maxBodyByte: 10 } };
  const [p] = problemsOf(() => loadConfig(write(dir, bad)));
  t.match(p, /gateway\.config\.json:\d+:\d+: limits\.maxBodyByte: unknown field "maxBodyByte" \(expected one of: .*maxBodyBytes/);
});

t.test('a wrong value names the field, the value and what was expected', async (t) => {
  const dir = t.testdir();
  const bad = structuredClone(DEMO_CONFIG) as any;
  bad.destinations[0].country = 'Pakistan';
  const [p] = problemsOf(() => loadConfig(write(dir, bad)));
  t.match(p, /destinations\[0\]\.country: value "Pakistan" is not valid — expected a 2-letter ISO 3166 country code/);
  t.notMatch(p, /at .*\.ts/, 'no stack trace');
});

t.test('a route to a destination that does not exist is refused', async (t) => {
  const dir = t.testdir();
  const bad = structuredClone(DEMO_CONFIG) as any;
  bad.routes[0].destinations = ['nowhere'];
  const [p] = problemsOf(() => loadConfig(write(dir, bad)));
  t.match(p, /routes\[0\]\.destinations\[0\]: no destination is named "nowhere"/);
});

t.test('broken JSON is reported with its line and column', async (t) => {
  const dir = t.testdir();
  const [p] = problemsOf(() => loadConfig(write(dir, '{\n  "dataDir": "./data",\n  oops\n}')));
  t.match(p, /gateway\.config\.json:3:\d+: not valid JSON/);
});

t.test('a missing file is a plain message', async (t) => {
  const [p] = problemsOf(() => loadConfig('/nonexistent/gateway.config.json'));
  t.match(p, /cannot read the config file \(it does not exist\)/);
});

t.test('several problems are all reported at once', async (t) => {
  const dir = t.testdir();
  const bad = structuredClone(DEMO_CONFIG) as any;
  bad.listen.lan = 'localhost';
  bad.destinations[0].kind = 'spaceship';
  const problems = problemsOf(() => loadConfig(write(dir, bad)));
  t.ok(problems.some((p) => /listen\.lan/.test(p)));
  t.ok(problems.some((p) => /destinations\[0\]\.kind: value "spaceship" is not allowed — expected one of: treatment/.test(p)));
});

t.test('requireSignedPolicies at the top level turns on policy.requireSigned', async (t) => {
  const dir = t.testdir();
  const c = loadConfig(write(dir, { ...DEMO_CONFIG, requireSignedPolicies: true }));
  t.equal(c.policy.requireSigned, true);
  t.equal(loadConfig('gateway.config.json').policy.requireSigned, false);
});

t.test('the store: SQLite by default and when named; PostgreSQL with its URL, pool and node name; mistakes named without the URL', async (t) => {
  const dir = t.testdir();
  t.same(loadConfig(write(dir, DEMO_CONFIG)).store, { kind: 'sqlite' }, 'the default');
  t.same(loadConfig(write(dir, { ...DEMO_CONFIG, store: { kind: 'sqlite' } })).store, { kind: 'sqlite' });
  const url = 'postgres://darwaza@db.hospital.local:5432/darwaza';
  t.same(loadConfig(write(dir, { ...DEMO_CONFIG, store: { kind: 'postgres', url, pool: { max: 10 }, nodeId: 'gw-a', leaseSeconds: 30 } })).store, { kind: 'postgres', url, pool: { max: 10 }, nodeId: 'gw-a', leaseSeconds: 30 });
  const byHost = loadConfig(write(dir, { ...DEMO_CONFIG, store: { kind: 'postgres', url } })).store;
  t.match(byHost, { kind: 'postgres', url, pool: {}, nodeId: /^[A-Za-z0-9][A-Za-z0-9._-]*$/ }, 'the node is named after the host by default');
  const [noUrl] = problemsOf(() => loadConfig(write(dir, { ...DEMO_CONFIG, store: { kind: 'postgres' } })));
  t.match(noUrl, /gateway\.config\.json:\d+:\d+: store\.url: required for kind "postgres"/);
  const [rotation] = problemsOf(() => loadConfig(write(dir, { ...DEMO_CONFIG, keys: { rotateCron: '0 3 1 * *' }, store: { kind: 'postgres', url } })));
  t.match(rotation, /keys\.rotateCron: scheduled rotation is per appliance/, 'a pair cannot rotate its signing keys on a schedule');
  const [badNode] = problemsOf(() => loadConfig(write(dir, { ...DEMO_CONFIG, store: { kind: 'postgres', url, nodeId: 'a b' } })));
  t.match(badNode, /store\.nodeId/);
  const [sqliteUrl] = problemsOf(() => loadConfig(write(dir, { ...DEMO_CONFIG, store: { url: 'postgres://x@y/z' } })));
  t.match(sqliteUrl, /store\.url: only for kind "postgres"/);
  const [kind] = problemsOf(() => loadConfig(write(dir, { ...DEMO_CONFIG, store: { kind: 'mysql' } })));
  t.match(kind, /store\.kind: .*"mysql"/, 'an unknown kind is named');
  const typo = problemsOf(() => loadConfig(write(dir, { ...DEMO_CONFIG, store: { kind: 'postgres', url: 'postgress://u:secret@h/db' } })));
  t.ok(typo.length > 0, 'refused');
  t.notMatch(typo.join('\n'), /secret/, 'a mistyped URL with a password is not printed either');
});
