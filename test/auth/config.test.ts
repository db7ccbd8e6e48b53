import t from 'tap';
import { createHash } from 'node:crypto';
import {
  emptyAccess,
  identityFromCertificate,
  identityFromLoopbackPeer,
  identityFromMetricsBearer,
  identityFromMllpPeer,
  parseAccessConfig,
  resolveMetricsToken,
  type AccessConfig,
} from '../../src/auth/index.js';

const FILE = '/etc/darwaza/gateway.config.json';

function parsed(raw: unknown): AccessConfig {
  const r = parseAccessConfig(raw, FILE);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.access;
}

const sample = {
  clients: { 'ehr.hospital.local': { roles: ['sender'], grants: ['integration-engine'] }, 'ops-console': { roles: ['operator', 'auditor'] } },
  mllpPlainSenders: [{ ip: '10.1.2.3', name: 'legacy-lab', roles: ['sender'] }],
  metricsToken: 'env:DARWAZA_METRICS_TOKEN',
};

t.test('a valid section parses; absent means nobody has roles', async (t) => {
  const a = parsed(sample);
  t.same(a.clients['ehr.hospital.local'], { roles: ['sender'], grants: ['integration-engine'] });
  t.same(a.clients['ops-console'], { roles: ['operator', 'auditor'], grants: [] });
  t.same(a.mllpPlainSenders, [{ ip: '10.1.2.3', name: 'legacy-lab', roles: ['sender'], grants: [] }]);
  t.same(a.metricsToken, { from: 'env', variable: 'DARWAZA_METRICS_TOKEN' });
  t.equal(a.loopback, null);
  t.same(parsed(undefined), emptyAccess());
  t.same(parsed({ metricsToken: `sha256:${'ab'.repeat(32)}` }).metricsToken, { from: 'sha256', hash: 'ab'.repeat(32) });
  t.same(parsed({ mllpPlainSenders: [{ ip: '::ffff:10.9.9.9', name: 'old', roles: ['sender'] }] }).mllpPlainSenders[0]!.ip, '10.9.9.9');
});

t.test('errors name the file and the field', async (t) => {
  const cases: [unknown, RegExp][] = [
    ['yes', /access: must be an object/],
    [{ client: {} }, /access\.client: unknown field/],
    [{ clients: { lab: { roles: ['sendr'] } } }, /access\.clients\["lab"\]\.roles\[0\]: "sendr" is not a role — expected one of: sender/],
    [{ clients: { lab: {} } }, /access\.clients\["lab"\]\.roles: must be a list/],
    [{ clients: { lab: { roles: ['operator'], grants: ['break-glass'] } } }, /access\.clients\["lab"\]\.grants: grants only apply to the "sender" role/],
    [{ clients: { lab: { roles: ['sender'], grants: ['root'] } } }, /grants\[0\]: "root" is not a grant/],
    [{ clients: { lab: { roles: ['sender'], role: 'admin' } } }, /access\.clients\["lab"\]\.role: unknown field/],
    [{ mllpPlainSenders: [{ ip: '10.0.0.0/8', name: 'lab', roles: ['sender'] }] }, /access\.mllpPlainSenders\[0\]\.ip: "10\.0\.0\.0\/8" is not an IP address/],
    [{ mllpPlainSenders: [{ ip: '10.0.0.1', roles: ['sender'] }] }, /access\.mllpPlainSenders\[0\]\.name/],
    [{ mllpPlainSenders: [{ ip: '10.0.0.1', name: 'a', roles: ['sender'] }, { ip: '10.0.0.1', name: 'b', roles: ['sender'] }] }, /mllpPlainSenders\[1\]\.ip: 10\.0\.0\.1 is listed twice/],
    [{ metricsToken: 'hunter2-the-actual-token' }, /access\.metricsToken: this value is not "env:NAME" or "sha256/],
    [{ loopback: { roles: 'sender' } }, /access\.loopback\.roles: must be a list/],
  ];
  for (const [raw, re] of cases) {
    const r = parseAccessConfig(raw, FILE);
    t.notOk(r.ok, JSON.stringify(raw));
    if (!r.ok) {
      t.match(r.errors.join('\n'), re);
      for (const e of r.errors) t.ok(e.startsWith(`${FILE}: access`), e);
    }
  }
  const r = parseAccessConfig({ metricsToken: 'hunter2-the-actual-token' }, FILE);
  t.notMatch(JSON.stringify(r), /hunter2/, 'a token pasted into the config is not echoed');
});

t.test('certificates map by CN, then SAN; an unlisted certificate has no roles', async (t) => {
  const a = parsed(sample);
  let r = identityFromCertificate({ cn: 'ehr.hospital.local' }, a);
  t.ok(r.ok && r.identity.roles.includes('sender') && r.identity.grants.includes('integration-engine'));
  r = identityFromCertificate({ cn: 'Some Person', san: ['other.local', 'ops-console'] }, a);
  t.ok(r.ok);
  if (r.ok) t.same(r.identity, { kind: 'certificate', name: 'ops-console', roles: ['operator', 'auditor'], grants: [] });
  r = identityFromCertificate({ cn: 'stray' }, a);
  t.ok(r.ok);
  if (r.ok) t.same(r.identity.roles, []);
  t.match(r.reason, /not in access\.clients/);
  t.notOk(identityFromCertificate({}, a).ok);
  const dunder = identityFromCertificate({ cn: '__proto__' }, a);
  t.ok(dunder.ok && dunder.identity.roles.length === 0, 'no prototype lookups');
  const bad = parseAccessConfig(JSON.parse('{"clients":{"__proto__":{"roles":["admin"]}}}'), FILE);
  t.notOk(bad.ok, '"__proto__" is not a certificate name');
  const proto = identityFromCertificate({ cn: 'constructor' }, a);
  t.ok(proto.ok && proto.identity.roles.length === 0, 'inherited names are not clients');
});

t.test('plain MLLP peers: allow-listed IP, loopback with access.loopback, anyone else refused', async (t) => {
  const a = parsed({ ...sample, loopback: { roles: ['sender'] } });
  let r = identityFromMllpPeer('::ffff:10.1.2.3', a);
  t.ok(r.ok);
  if (r.ok) t.same(r.identity, { kind: 'mllp-ip', name: 'legacy-lab', roles: ['sender'], grants: [], plain: true });
  r = identityFromMllpPeer('127.0.0.1', a);
  t.ok(r.ok && r.identity.kind === 'loopback' && r.identity.plain);
  r = identityFromMllpPeer('10.1.2.4', a);
  t.notOk(r.ok);
  t.match(r.reason, /10\.1\.2\.4 is refused: not loopback and not in access\.mllpPlainSenders/);
  r = identityFromMllpPeer('::1', parsed(sample));
  t.notOk(r.ok, 'loopback without access.loopback has no roles');
  t.notOk(identityFromLoopbackPeer('192.168.1.5', a).ok);
  t.ok(identityFromLoopbackPeer('127.0.0.2', a).ok);
});

t.test('the metrics token: from the environment or a hash, compared as SHA-256', async (t) => {
  const token = 'prometheus-scrape-token-0123456789';
  const fromEnv = resolveMetricsToken({ from: 'env', variable: 'M' }, { M: token });
  t.ok(fromEnv.ok);
  const hash = createHash('sha256').update(token).digest('hex');
  const fromHash = resolveMetricsToken({ from: 'sha256', hash }, {});
  t.ok(fromHash.ok);
  for (const res of [fromEnv, fromHash]) {
    if (!res.ok) continue;
    const r = identityFromMetricsBearer(`Bearer ${token}`, res.sha256);
    t.ok(r.ok && r.identity.kind === 'metrics-token');
    t.notOk(identityFromMetricsBearer(`Bearer ${token}x`, res.sha256).ok);
    t.notOk(identityFromMetricsBearer(undefined, res.sha256).ok);
  }
  t.notOk(identityFromMetricsBearer(`Bearer ${token}`, undefined).ok, 'none configured');
  t.same(resolveMetricsToken({ from: 'env', variable: 'M' }, {}), { ok: false, error: 'access.metricsToken: the environment variable M is not set' });
  t.notOk(resolveMetricsToken({ from: 'env', variable: 'M' }, { M: 'short' }).ok);
});
