import t from 'tap';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import {
  checkConfigAgainstPack,
  compilePolicy,
  isLoopbackHost,
  lintPolicyText,
  loadPolicy,
  recipientKeyFingerprint,
  resolveDestinations,
  PackMismatchError,
  type ConfigDestination,
  type PackDestination,
} from '../../src/policy/index.js';
import { DEMO_CONFIG } from '../../src/config/index.js';

const shipped = await loadPolicy('policies/pk');

// A real recipient key and its fingerprint, computed here independently of the code under test.
const KEY = Buffer.alloc(32, 7).toString('base64');
const OTHER_KEY = Buffer.alloc(32, 9).toString('base64');
const FP = `sha256:${createHash('sha256').update(Buffer.alloc(32, 7)).digest('hex')}`;

const REMOTE: PackDestination = {
  name: 'pk-registry',
  country: 'PK',
  region: 'Islamabad',
  kind: 'registry',
  consentModel: 'opt-in',
  allowedHosts: ['registry.example.pk'],
  recipientKey: FP,
  spkiPins: ['A'.repeat(43) + '='],
};
const pack = { destinations: [...shipped.destinations, REMOTE] };

const demo = (over: Partial<ConfigDestination> = {}): ConfigDestination => ({ ...(DEMO_CONFIG.destinations[0] as unknown as ConfigDestination), ...over });
const remote = (over: Partial<ConfigDestination> = {}): ConfigDestination => ({ name: 'pk-registry', url: 'https://registry.example.pk/ingest', recipientPublicKey: KEY, ...over });
const errors = (cfg: ConfigDestination[]) => checkConfigAgainstPack(cfg, pack).filter((p) => p.severity === 'error');

t.test('the shipped pack declares national-telemed as the demo runs it', async (t) => {
  t.same(shipped.destinations, [
    {
      name: 'national-telemed',
      description: shipped.destinations[0].description,
      country: 'PK',
      kind: 'treatment',
      consentModel: 'opt-in',
      allowedHosts: ['127.0.0.1'],
      recipientKey: 'embedded-simulator',
    },
  ]);
  const problems = checkConfigAgainstPack([demo()], shipped);
  t.same(problems.filter((p) => p.severity === 'error'), [], 'the demo config agrees with the shipped pack');
  t.same(problems.map((p) => [p.severity, p.field]), [['warning', 'destinations[0].url']], 'with one warning: plain http on loopback');
  t.match(problems[0].message, /plain http to 127\.0\.0\.1: allowed only because it is a loopback address/);
});

t.test('a config that widens the signed pack is refused, each problem naming the field and the pack value', async (t) => {
  const cases: Array<[string, ConfigDestination, string, unknown, RegExp]> = [
    ['opt-out where the pack says opt-in', demo({ consentModel: 'opt-out' }), 'destinations[0].consentModel', 'opt-in', /says "opt-out" but the signed policy pack says "opt-in"/],
    ['a false country', demo({ country: 'AE' }), 'destinations[0].country', 'PK', /says "AE" but the signed policy pack says "PK"/],
    ['another kind', demo({ kind: 'research' }), 'destinations[0].kind', 'treatment', /says "research" but the signed policy pack says "treatment"/],
    ['an unknown host', demo({ url: 'http://127.0.0.2:9443/ingest' }), 'destinations[0].url', ['127.0.0.1'], /host "127\.0\.0\.2" is not among the hosts the signed policy pack allows \(\["127\.0\.0\.1"\]\)/],
    ['a missing recipient key', remote({ recipientPublicKey: undefined }), 'destinations[0].recipientPublicKey', FP, new RegExp(`missing: the signed policy pack seals this destination to the key ${FP}`)],
    ['a recipient key the pack does not name', remote({ recipientPublicKey: OTHER_KEY }), 'destinations[0].recipientPublicKey', FP, new RegExp(`fingerprint is sha256:[0-9a-f]{64} but the signed policy pack names ${FP}`)],
    ['http to a non-loopback host', remote({ url: 'http://registry.example.pk/ingest' }), 'destinations[0].url', 'https', /plain http to registry\.example\.pk, which is not a loopback address/],
    ['an undeclared destination', { name: 'shadow-cloud', url: 'https://cloud.example.com/x', country: 'PK', kind: 'treatment' }, 'destinations[0].name', ['national-telemed', 'pk-registry'], /"shadow-cloud" is not a destination of the signed policy pack \(it declares "national-telemed", "pk-registry"\)/],
    ['another region', remote({ region: 'Dubai' }), 'destinations[0].region', 'Islamabad', /says "Dubai" but the signed policy pack says "Islamabad"/],
    ['a pin the pack does not list', remote({ tls: { pinSha256: ['B'.repeat(43) + '='] } }), 'destinations[0].tls.pinSha256', REMOTE.spkiPins, /not among the signed policy pack's SPKI pins/],
    ['a config key where the pack seals to the embedded simulator', demo({ recipientPublicKey: KEY }), 'destinations[0].recipientPublicKey', 'embedded-simulator', /the signed policy pack says "embedded-simulator"/],
    ['another scheme', remote({ url: 'ftp://registry.example.pk/x' }), 'destinations[0].url', 'https', /the scheme "ftp" is not allowed/],
  ];
  for (const [what, cfg, field, packValue, message] of cases) {
    const got = errors([cfg]);
    t.equal(got.length, 1, `${what}: exactly one problem (${got.map((p) => p.message).join(' | ')})`);
    t.equal(got[0]?.field, field, `${what}: names the field`);
    t.same(got[0]?.packValue, packValue, `${what}: carries the pack's value`);
    t.match(got[0]?.message, message, `${what}: says it in words`);
    t.ok(got[0]?.message.startsWith(`${field} (`) || got[0]?.message.startsWith(`${field}:`), `${what}: the message starts with the field`);
    t.throws(() => resolveDestinations([cfg], pack), PackMismatchError, `${what}: resolveDestinations refuses it`);
  }
});

t.test('the embedded-simulator key is valid only on loopback, in the pack and in the config', async (t) => {
  const p = { destinations: [{ ...shipped.destinations[0], allowedHosts: ['127.0.0.1', 'sim.example.pk'] }] };
  const got = checkConfigAgainstPack([demo({ url: 'https://sim.example.pk/ingest' })], p).filter((x) => x.severity === 'error');
  t.same(got.map((x) => x.field), ['destinations[0].url']);
  t.match(got[0].message, /embedded simulator's key \("embedded-simulator"\), which is valid only for loopback URLs, not sim\.example\.pk/);
  // And a pack that says so does not compile.
  const text = readFileSync('policies/pk/pk.policy.yaml', 'utf8').replace('allowedHosts: [127.0.0.1]', 'allowedHosts: [127.0.0.1, sim.example.pk]');
  t.match(lintPolicyText(text, 'x.policy.yaml').map((f) => f.message).join('\n'), /"embedded-simulator" is valid only for loopback hosts, but allowedHosts lists sim\.example\.pk/);
});

t.test('facts come from the pack: omitted or equal config fields resolve to the pack values', async (t) => {
  const cfg = { ...remote({ region: undefined }), timeoutMs: 1234, country: undefined, kind: undefined, consentModel: undefined };
  t.same(errors([cfg, demo({ country: undefined, kind: undefined, consentModel: undefined })]), []);
  const [r, d] = resolveDestinations([cfg, demo({ country: undefined, kind: undefined })], pack);
  t.match(r, { name: 'pk-registry', country: 'PK', region: 'Islamabad', kind: 'registry', consentModel: 'opt-in', timeoutMs: 1234, recipientKeyFingerprint: FP });
  t.same(r.tls?.pinSha256, REMOTE.spkiPins, "the pack's pins apply when the config sets none");
  t.match(d, { name: 'national-telemed', country: 'PK', kind: 'treatment', consentModel: 'opt-in', recipientKeyFingerprint: 'embedded-simulator', url: 'http://127.0.0.1:9443/ingest' });
  // opt-in in the config where the pack says opt-out is stricter, and kept.
  const optOut = { destinations: [{ ...REMOTE, consentModel: 'opt-out' as const }] };
  t.same(checkConfigAgainstPack([remote({ consentModel: 'opt-in' })], optOut).filter((p) => p.severity === 'error'), []);
  t.equal(resolveDestinations([remote({ consentModel: 'opt-in' })], optOut)[0].consentModel, 'opt-in');
  t.equal(resolveDestinations([remote({ consentModel: undefined })], optOut)[0].consentModel, 'opt-out');
});

t.test('problems carry no more than config and pack facts, and several are all reported', async (t) => {
  const got = errors([demo({ consentModel: 'opt-out', country: 'DE' }), remote({ url: 'http://evil.example.com/x', recipientPublicKey: undefined })]);
  t.same(got.map((p) => p.field).sort(), [
    'destinations[0].consentModel',
    'destinations[0].country',
    'destinations[1].recipientPublicKey',
    'destinations[1].url',
    'destinations[1].url',
  ]);
  const e = new PackMismatchError(got);
  t.match(e.message, /contradicts the signed policy pack/);
  t.equal(e.message.split('\n').length, 6);
});

t.test('fingerprints and loopback', async (t) => {
  t.equal(recipientKeyFingerprint(KEY), FP);
  t.throws(() => recipientKeyFingerprint('AAAA'), /32 bytes of base64/);
  for (const h of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', 'LOCALHOST']) t.ok(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1', '128.0.0.1', 'example.com', '127.0.0.1.example.com', '::2', '']) t.notOk(isLoopbackHost(h), h);
  const bad = compilePolicy.bind(null, readFileSync('policies/pk/pk.policy.yaml', 'utf8').replace('recipientKey: embedded-simulator', 'recipientKey: abc'), 'x.policy.yaml');
  t.throws(bad, /recipientKey/, 'a recipient key that is neither a fingerprint nor the marker is an error');
});
