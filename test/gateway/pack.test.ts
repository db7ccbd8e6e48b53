/**
 * The signed policy pack, not the unsigned config, decides every destination fact and the
 * de-identification profiles. Each finding is checked from outside: the in-process gateway
 * (startGateway with real sockets, a real SQLite file and its own copy of the pack) or a real
 * `darwaza start` process. A config that widens the pack is refused at start, naming the
 * config field and the pack's value; a tampered profile of a signed pack fails the start; a
 * profile changed on disk reloads with the policy; a reload the config no longer matches is
 * refused and the last good pack stays.
 */
import t, { type Test as Tap } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../../src/gateway/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { generateSigningKey, loadPolicy, recipientKeyFingerprint, signPack } from '../../src/policy/index.js';
import { initCa, issueCertificate, spkiSha256 } from '../../src/pki/index.js';
import { command as certsCommand } from '../../src/cli/commands/certs.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { captureIo } from '../helpers/cli.js';
import { FAST_RETRY, memoryLogger, setupGateway, type GatewaySetup } from '../helpers/gateway.js';
import { declareInPack, packEntryFor } from '../helpers/pack.js';
import { freePort, waitFor } from '../helpers/net.js';
import { CLI, prepareDir, runCli } from '../helpers/processes.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
const someKey = () => randomBytes(32).toString('base64');

/** A config destination the way the tests write them (loopback, fast retries). */
function destination(name: string, url: string, over: Record<string, unknown> = {}): any {
  return { name, url, country: 'PK', kind: 'treatment', organization: name, format: 'fhir', consentModel: 'opt-in', timeoutMs: 5000, concurrency: 2, retry: FAST_RETRY, ...over };
}

/** startGateway's refusal, or undefined (and the gateway stopped) when it started. */
async function refusal(s: GatewaySetup): Promise<Error | undefined> {
  const { logger } = memoryLogger();
  return startGateway(s.config, { logger, simulator: false }).then(
    async (gw) => (await gw.stop(), undefined),
    (e: Error) => e,
  );
}

async function post(port: number, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { ...FHIR, ...headers }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as any };
}

const decidedEntries = (gw: RunningGateway, id: string) =>
  (gw.db.prepare("SELECT entry FROM audit_entries WHERE event = 'decided' AND message_id = ?").all(id) as { entry: string }[]).map((e) => JSON.parse(e.entry));

t.test('finding: a config that says consentModel opt-out where the signed pack says opt-in is refused at start, naming the field and the pack\'s value', async (t) => {
  const s = await setupGateway(t, (c) => (c.destinations[0].consentModel = 'opt-out'));
  const err = await refusal(s);
  t.equal(err?.name, 'ConfigError', 'the start is refused');
  t.match(err?.message, /destinations\[0\]\.consentModel \(national-telemed\)/, 'naming the config field');
  t.match(err?.message, /signed policy pack says "opt-in"/, `and the pack's value: ${String(err?.message)}`);
});

t.test('finding: a config that declares a foreign destination PK (a false country) is refused at start, naming the field and the pack\'s value', async (t) => {
  const s = await setupGateway(t, (c) => c.destinations.push(destination('foreign-clinic', `http://127.0.0.1:${9}/ingest`, { country: 'PK' })));
  declareInPack(s.policyFile, [packEntryFor({ ...destination('foreign-clinic', 'http://127.0.0.1:9/ingest'), country: 'DE', kind: 'treatment' })]);
  const err = await refusal(s);
  t.equal(err?.name, 'ConfigError');
  t.match(err?.message, /destinations\[1\]\.country \(foreign-clinic\): the config says "PK" but the signed policy pack says "DE"/, String(err?.message));
});

t.test('finding: a URL host the signed pack does not allow is refused at start, naming the field and the allowed hosts', async (t) => {
  const s = await setupGateway(t, (c) => (c.destinations[0].url = 'https://telemed.example.org/ingest'));
  const err = await refusal(s);
  t.equal(err?.name, 'ConfigError');
  t.match(err?.message, /destinations\[0\]\.url \(national-telemed\): the host "telemed\.example\.org" is not among the hosts the signed policy pack allows \(\["127\.0\.0\.1"\]\)/, String(err?.message));
});

t.test('finding: a destination without the recipient key the signed pack names is refused at start (no key of the gateway\'s own making)', async (t) => {
  const key = someKey();
  const s = await setupGateway(t, (c) => c.destinations.push(destination('registry', 'http://127.0.0.1:9/ingest', { kind: 'registry' })));
  declareInPack(s.policyFile, [packEntryFor({ ...destination('registry', 'http://127.0.0.1:9/ingest'), kind: 'registry', recipientPublicKey: key })]);
  const err = await refusal(s);
  t.equal(err?.name, 'ConfigError');
  t.match(err?.message, /destinations\[1\]\.recipientPublicKey \(registry\): missing/, String(err?.message));
  t.match(err?.message, recipientKeyFingerprint(key), 'naming the key the pack names');
});

t.test('finding: plain http to a host off the appliance is refused at start, even where the pack allows the host', async (t) => {
  const key = someKey();
  const url = 'http://records.example.org/ingest';
  const s = await setupGateway(t, (c) => c.destinations.push(destination('records', url, { recipientPublicKey: key })));
  declareInPack(s.policyFile, [packEntryFor({ ...destination('records', url), recipientPublicKey: key })]);
  const err = await refusal(s);
  t.equal(err?.name, 'ConfigError');
  t.match(err?.message, /destinations\[1\]\.url \(records\): plain http to records\.example\.org, which is not a loopback address/, String(err?.message));
});

t.test('finding: a destination the signed pack does not declare is refused at start, naming what the pack declares', async (t) => {
  const s = await setupGateway(t, (c) => {
    c.destinations.push(destination('elsewhere', 'http://127.0.0.1:9/ingest'));
    c.routes[0].destinations.push('elsewhere');
  });
  const err = await refusal(s);
  t.equal(err?.name, 'ConfigError');
  t.match(err?.message, /destinations\[1\]\.name: "elsewhere" is not a destination of the signed policy pack \(it declares "national-telemed"\)/, String(err?.message));
});

t.test('finding: `darwaza start` with a config that widens the pack exits 3 naming the field and the pack\'s value; nothing listens', { skip: !existsSync(CLI) && 'dist/darwaza.cjs is not built (node scripts/build.mjs)' }, async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => (c.destinations[0].consentModel = 'opt-out'));
  const r = runCli(['start', '--config', join(dir, 'gateway.config.json'), '--no-simulator'], { cwd: dir });
  t.equal(r.code, 3, 'the config error exit code');
  t.match(r.stderr, /destinations\[0\]\.consentModel \(national-telemed\).*"opt-in"/, r.stderr.slice(0, 600));
  t.equal(await fetch(`http://127.0.0.1:${ports.lan}/healthz`).then(() => 'answered', () => 'refused'), 'refused', 'nothing listens on the LAN port');
});

t.test('at start the gateway says the pack is unsigned, and warns of plain http to a loopback uplink', async (t) => {
  const s = await setupGateway(t);
  const { logger, lines } = memoryLogger();
  const gw = await startGateway(s.config, { logger, simulator: false });
  await gw.stop();
  const text = lines.join('');
  t.match(text, /UNSIGNED POLICY PACK: signatures are not required/, 'the demo says it runs unsigned');
  t.match(text, /plain http to 127\.0\.0\.1: allowed only because it is a loopback address/, 'and that the uplink is plain http on loopback');
});

t.test('finding: a profile file changed after the pack was signed fails the start', async (t) => {
  const key = await generateSigningKey();
  const s = await setupGateway(t, (c) => {
    c.policy.requireSigned = true;
    c.policy.trustedSigners = [key.publicKey];
  });
  const { pack } = await loadPolicy(s.policyFile);
  writeFileSync(`${s.policyFile}.sig`, JSON.stringify(await signPack(pack!, key)));
  t.equal(await refusal(s), undefined, 'signed as it is, the pack starts (the control)');

  const profile = join(s.dir, 'policies', 'profiles', 'pk-research.yaml');
  writeFileSync(profile, readFileSync(profile, 'utf8').replace('{ path: "Resource.id", method: cryptoHash }', '{ path: "Resource.id", method: keep }'));
  const err = await refusal(s);
  t.equal(err?.name, 'PolicyError', 'the start is refused');
  t.match(err?.message, /changed after it was signed/, String(err?.message));
  t.match(err?.message, /pk-research/, 'naming the profile that changed');
});

/** The profile hash a delivered research payload's Provenance cites. */
const citedProfile = (payload: string) => /sanitize-profile:pk-research#sha256:([0-9a-f]{64})/.exec(payload)?.[1];

t.test('finding: a profile changed on disk reloads with the policy: the next message is de-identified by it, and its decided entry carries the new profiles hash', async (t) => {
  const s = await setupGateway(t, (c) => {
    c.destinations.push(destination('research-registry', `http://127.0.0.1:${c.simulator.listen.split(':')[1]}/ingest`, { kind: 'research' }));
    c.routes.push({ name: 'research', match: { purpose: ['HRESCH'] }, destinations: ['research-registry'] });
  });
  declareInPack(s.policyFile, [packEntryFor({ ...destination('research-registry', `http://127.0.0.1:${s.simPort}/ingest`), kind: 'research' })]);
  (await loadOrCreateKeyStore(s.config.certsDir)).demoRecipient('research-registry');
  (await loadOrCreateKeyStore(s.config.certsDir)).demoRecipient('national-telemed');
  const sim = await startRecordingSimulator(s.config.certsDir, s.simPort);
  const { logger } = memoryLogger();
  const gw = await startGateway(s.config, { logger, simulator: false });
  t.teardown(async () => {
    await gw.stop();
    await sim.stop();
  });

  const send = async () => {
    const r = await post(gw.lanPort, '/fhir/Observation', observation('p-research'), { 'x-purpose-of-use': 'HRESCH' });
    t.equal(r.status, 202, JSON.stringify(r.body).slice(0, 300));
    t.same(r.body.destinations.map((d: any) => [d.name, d.decision]), [['research-registry', 'queued']]);
    await waitFor(() => sim.opened.has(r.body.id), { timeoutMs: 15_000, what: 'delivery to research-registry' });
    return { payload: sim.opened.get(r.body.id)!.payload, decided: decidedEntries(gw, r.body.id) };
  };

  const before = await send();
  const packBefore = (await loadPolicy(s.policyFile)).pack!;
  t.equal(before.decided[0]?.profilesSha256, packBefore.profilesSha256, 'the decided entry names the profiles in force');
  const citedBefore = citedProfile(before.payload);
  t.ok(citedBefore, 'the payload cites the profile it was de-identified with');

  const profile = join(s.dir, 'policies', 'profiles', 'pk-research.yaml');
  writeFileSync(profile, readFileSync(profile, 'utf8').replace('description: >-', 'description: >-\n  Revised.'));
  await gw.reload();
  const packAfter = (await loadPolicy(s.policyFile)).pack!;
  t.not(packAfter.profilesSha256, packBefore.profilesSha256, 'the profile edit is a new pack');

  const after = await send();
  t.equal(after.decided[0]?.profilesSha256, packAfter.profilesSha256, 'the next decided entry names the new profiles');
  const citedAfter = citedProfile(after.payload);
  t.ok(citedAfter);
  t.not(citedAfter, citedBefore, 'and the next message was de-identified by the changed profile');
});

t.test('finding: a reload whose pack no longer matches the config is refused and logged; the last good pack (and its facts) stays', async (t) => {
  const s = await setupGateway(t);
  (await loadOrCreateKeyStore(s.config.certsDir)).demoRecipient('national-telemed');
  const sim = await startRecordingSimulator(s.config.certsDir, s.simPort);
  const { logger, lines } = memoryLogger();
  const gw = await startGateway(s.config, { logger, simulator: false });
  t.teardown(async () => {
    await gw.stop();
    await sim.stop();
  });
  await post(gw.lanPort, '/fhir/Patient', patientFor('p-stay')); // registered first: its age is known
  t.equal((await post(gw.lanPort, '/fhir/Consent', consentFor('p-stay'))).status, 201);

  // The new pack moves national-telemed abroad: the config (PK) no longer matches it.
  writeFileSync(s.policyFile, readFileSync(s.policyFile, 'utf8').replace(/(name: national-telemed[\s\S]*?country: )PK/, '$1DE'));
  await gw.reload();
  await waitFor(() => lines.some((l) => /policy change refused/.test(l)), { timeoutMs: 5000, what: 'the refusal in the log' });
  const refused = lines.find((l) => /policy change refused/.test(l))!;
  t.match(refused, /destinations\[0\]\.country \(national-telemed\): the config says \\"PK\\" but the signed policy pack says \\"DE\\"/, 'the log names the field and the new pack\'s value');
  t.notOk(lines.some((l) => /"msg":"policy activated"/.test(l)), 'the new pack was not activated');

  const r = await post(gw.lanPort, '/fhir/Observation', observation('p-stay'));
  t.same(r.body.destinations.map((d: any) => [d.name, d.decision]), [['national-telemed', 'queued']], 'decisions still rest on the last good pack (PK, so identifiable data may go)');
  await waitFor(() => sim.opened.has(r.body.id), { timeoutMs: 15_000, what: 'delivery' });
});

t.test('the pack\'s SPKI pins reach the uplink: a server whose key the pack does not pin gets nothing; `darwaza certs pin --url` prints the pin to write there', async (t) => {
  // Not t.testdir(): each gateway below takes that folder (a subtest's own), and a second call would empty it.
  const ca = mkdtempSync(join(tmpdir(), 'dz-pack-ca-'));
  t.teardown(() => rmSync(ca, { recursive: true, force: true }));
  initCa(ca, { organization: 'national-telemed' });
  issueCertificate(ca, 'localhost', { server: true });
  const port = await freePort();
  let received = 0;
  const upstream = https.createServer({ key: readFileSync(join(ca, 'server.key')), cert: readFileSync(join(ca, 'server.crt')) }, (req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => upstream.listen(port, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (upstream.closeAllConnections(), upstream.close(() => r()))));

  // The pin command, in process, against the running server and the certificate file.
  const byUrl = captureIo();
  t.equal(await certsCommand.run(['pin', '--url', `https://localhost:${port}`], byUrl.io), 0, byUrl.err.join('\n'));
  const byCert = captureIo();
  t.equal(await certsCommand.run(['pin', '--cert', join(ca, 'server.crt')], byCert.io), 0, byCert.err.join('\n'));
  const goodPin = spkiSha256(readFileSync(join(ca, 'server.crt')));
  t.equal(byUrl.out[0], goodPin, '--url prints the SPKI pin of the key the server presents');
  t.equal(byCert.out[0], goodPin, '--cert prints the same pin from the file');

  const run = async (t: Tap, pins: string[]) => {
    const s = await setupGateway(t, (c) => {
      c.destinations[0].url = `https://localhost:${port}/ingest`;
      c.destinations[0].tls = { ca: join(ca, 'ca.crt') };
    });
    declareInPack(s.policyFile, [{ ...packEntryFor({ ...destination('national-telemed', `https://localhost:${port}/ingest`) }), spkiPins: pins }]);
    const { logger } = memoryLogger();
    const gw = await startGateway(s.config, { logger, simulator: false });
    try {
      await post(gw.lanPort, '/fhir/Patient', patientFor('p-pin')); // registered first: its age is known
      t.equal((await post(gw.lanPort, '/fhir/Consent', consentFor('p-pin'))).status, 201);
      const r = await post(gw.lanPort, '/fhir/Observation', observation('p-pin'));
      t.equal(r.status, 202);
      const state = await waitFor(
        async () => {
          const m = (await (await fetch(`http://127.0.0.1:${gw.lanPort}/messages/${r.body.id}`)).json()) as any;
          const d = m.destinations[0];
          return d.state === 'delivered' || d.attempts >= 1 ? d : undefined;
        },
        { timeoutMs: 15_000, what: 'a delivery attempt' },
      );
      return state;
    } finally {
      await gw.stop();
    }
  };
  const wrongPin = spkiSha256(readFileSync(join(ca, 'ca.crt')));
  await t.test('pinned to another key', async (t) => {
    const d = await run(t, [wrongPin]);
    t.not(d.state, 'delivered', 'a server key the pack does not pin: not delivered');
    t.match(d.lastError ?? '', /PIN/i, `refused for the pin (${d.lastError})`);
    t.equal(received, 0, 'and nothing reached the server');
  });
  await t.test('pinned to the server\'s key', async (t) => {
    const d = await run(t, [goodPin]);
    t.equal(d.state, 'delivered', 'the key the pack pins: delivered');
    t.equal(received, 1);
  });
});
