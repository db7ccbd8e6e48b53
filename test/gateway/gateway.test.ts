/**
 * The gateway in this process: startGateway with a test logger and clock, real HTTP on
 * loopback (ports chosen by the OS), real MLLP, a real SQLite file in a temp folder, and
 * the upstream simulator in this process opening what is delivered.
 */
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { Writable } from 'node:stream';
import { startGateway, type RunningGateway } from '../../src/gateway/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { createLogger } from '../../src/log/index.js';
import { frame, MllpFramer } from '../../src/ingress/mllp/index.js';
import { testConfig } from '../helpers/config.js';
import { freePort, sleep, waitFor } from '../helpers/net.js';
import { FIXTURES } from '../helpers/processes.js';
import { copyPolicies, declareInPack, packEntryFor } from '../helpers/pack.js';
import { startRecordingSimulator, type RecordingSimulator } from '../helpers/recording-sim.js';
import { consentFor } from '../../bench/fixtures.js';

const SYNTHEA = join(FIXTURES, 'synthea-r4', 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');
const SYNTHEA_PATIENT = 'd88f994a-5efa-421d-9c40-5f116d2114a6';
const DESTINATION = 'national-telemed';
const FAST_RETRY = { maxAttempts: 50, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 3_600_000 };

/** Log lines go to an array (and nowhere else), so a test can read what the gateway said. */
function memoryLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  return { logger, lines };
}

interface Setup {
  dir: string;
  simPort: number;
  config: ReturnType<typeof testConfig>;
}

/** A temp folder with certs, data and a copy of the repository's policy pack; free ports. */
async function setup(t: { testdir(): string }, patch: (c: any) => void = () => {}): Promise<Setup> {
  const dir = t.testdir();
  const simPort = await freePort();
  const config = testConfig((c) => {
    c.dataDir = join(dir, 'data');
    c.certsDir = join(dir, 'certs');
    c.listen = { lan: '127.0.0.1:0', admin: '127.0.0.1:0', mllp: '127.0.0.1:0' };
    c.simulator = { embedded: false, listen: `127.0.0.1:${simPort}` };
    c.dispatcher = { pollMs: 50, breakerFailures: 100, breakerCooldownMs: 200 };
    c.policy.path = copyPolicies(dir); // its own copy of the pack, which a test may change
    for (const d of c.destinations) {
      d.url = `http://127.0.0.1:${simPort}/ingest`;
      d.retry = FAST_RETRY;
    }
    patch(c);
  }, dir);
  // What `darwaza init` makes: the key-encryption key of the at-rest cipher.
  (await loadOrCreateKeyStore(config.certsDir)).ensureKekFile();
  return { dir, simPort, config };
}

/** The simulator needs the demo recipient key, which the key store makes in the certs folder. */
async function startSim(s: Setup): Promise<RecordingSimulator> {
  const keys = await loadOrCreateKeyStore(s.config.certsDir);
  keys.demoRecipient(DESTINATION);
  return startRecordingSimulator(s.config.certsDir, s.simPort);
}

async function post(port: number, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as any };
}

async function itemState(gw: RunningGateway, id: string): Promise<string | undefined> {
  const r = await fetch(`http://127.0.0.1:${gw.lanPort}/messages/${id}`);
  const body = (await r.json()) as any;
  return body.destinations?.find((d: any) => d.destination === DESTINATION)?.state;
}

t.test('a consent and a bundle: queued, then delivered to the simulator, which opens it', async (t) => {
  const s = await setup(t);
  const sim = await startSim(s);
  const { logger } = memoryLogger();
  const gw = await startGateway(s.config, { logger, simulator: false });
  t.teardown(async () => {
    await gw.stop();
    await sim.stop();
  });
  t.equal((await post(gw.lanPort, '/fhir/Consent', consentFor(SYNTHEA_PATIENT))).status, 201, 'the consent is registered');
  const r = await post(gw.lanPort, '/fhir', readFileSync(SYNTHEA, 'utf8'));
  t.equal(r.status, 202);
  t.same(r.body.destinations.map((d: any) => [d.name, d.decision]), [[DESTINATION, 'queued']], JSON.stringify(r.body.destinations));
  await waitFor(async () => (await itemState(gw, r.body.id)) === 'delivered', { timeoutMs: 15_000, what: 'delivery' });
  const opened = sim.opened.get(r.body.id);
  t.ok(opened, 'the simulator opened the envelope');
  t.equal(opened?.meta.destination, DESTINATION);
  t.equal(JSON.parse(opened!.payload).resourceType, 'Bundle', 'and found the bundle inside');

  const explain = (await (await fetch(`http://127.0.0.1:${gw.adminPort}/messages/${r.body.id}/explain`)).json()) as any;
  t.equal(explain.destinations[0].name, DESTINATION, 'the admin explain reads the stored outcome back');
  t.ok(explain.destinations[0].trace.length > 0, 'with the trace of the policy in force');
});

t.test('start refuses a policy rule that names a profile its pack does not provide', async (t) => {
  const s = await setup(t);
  rmSync(join(s.dir, 'policies', 'profiles', 'pk-research.yaml'));
  const { logger } = memoryLogger();
  const err = await startGateway(s.config, { logger, simulator: false }).then(
    async (gw) => (await gw.stop(), undefined),
    (e: Error) => e,
  );
  t.equal(err?.name, 'ConfigError', 'the start is refused');
  t.match(err?.message, /rule "research-and-ai-get-deidentified-data"/, 'naming the rule');
  t.match(err?.message, /profile "pk-research"/, 'and the profile');
  t.match(err?.message, /safe-harbor/, `and what the pack does provide: ${err?.message}`);
});

t.test('start refuses a pack profile that does not compile, naming the profile', async (t) => {
  const s = await setup(t);
  writeFileSync(join(s.dir, 'policies', 'profiles', 'pk-research.yaml'), 'fhirPathRules: [ { path: "Resource.id", method: nonsense } ]\n');
  const { logger } = memoryLogger();
  const err = await startGateway(s.config, { logger, simulator: false }).then(
    async (gw) => (await gw.stop(), undefined),
    (e: Error) => e,
  );
  t.equal(err?.name, 'ConfigError', 'the start is refused');
  t.match(err?.message, /profile "pk-research"/, `naming the profile: ${err?.message}`);
});

/** Sends one frame and returns the first ACK frame. */
async function sendMllp(port: number, text: string): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.on('data', (d) => {
        for (const e of framer.push(d)) if (e.kind === 'frame') resolve(e.payload.toString('utf8'));
      });
      socket.on('error', reject);
      socket.write(frame(text));
    });
  } finally {
    socket.destroy();
  }
}

const ADT_LOCAL_TIMES = [
  'MSH|^~\\&|HIS|HOSP|DARWAZA|PK|20240315083000||ADT^A01^ADT_A01|TZ-0001|P|2.5.1',
  'EVN|A01|20240315083000',
  'PID|1||MRN-1^^^HOSP^MR||Doe^Jane||19800101|F',
  'PV1|1|I|WARD^1^A^HOSP||||||||||||||||V-1^^^HOSP_VISIT|||||||||||||||||||||||||202403150815',
].join('\r');

t.test('config.timezone reaches the HL7 v2 mapper: a v2 time without offset is read in that zone', async (t) => {
  // New York is on daylight time on 15 March 2024 (UTC-4); the old fixed default was +05:00.
  const s = await setup(t, (c) => {
    c.timezone = 'America/New_York';
    c.destinations[0].consentModel = 'opt-out';
  });
  // Opt-out is a fact of the pack: this test's pack says so for national-telemed.
  declareInPack(join(s.dir, 'policies', 'pk', 'pk.policy.yaml'), [packEntryFor(s.config.destinations[0] as any)]);
  const sim = await startSim(s);
  const { logger } = memoryLogger();
  const gw = await startGateway(s.config, { logger, simulator: false });
  t.teardown(async () => {
    await gw.stop();
    await sim.stop();
  });
  const ack = await sendMllp(gw.mllpPort!, ADT_LOCAL_TIMES);
  t.match(ack, /MSA\|AA\|TZ-0001/, 'the message is accepted');
  await waitFor(() => sim.opened.size === 1, { timeoutMs: 15_000, what: 'delivery' });
  const bundle = JSON.parse([...sim.opened.values()][0].payload);
  const encounter = bundle.entry.map((e: any) => e.resource).find((r: any) => r.resourceType === 'Encounter');
  t.equal(encounter?.period?.start, '2024-03-15T08:15:00-04:00', 'the admit time carries New York\'s offset');
});

t.test('stored context is versioned: a row without a version reads, an unknown version is never sent', async (t) => {
  const s = await setup(t);
  const { logger, lines } = memoryLogger();
  // The simulator is not up yet: both messages wait in the queue.
  const gw = await startGateway(s.config, { logger, simulator: false });
  let sim: RecordingSimulator | undefined;
  t.teardown(async () => {
    await gw.stop();
    await sim?.stop();
  });
  t.equal((await post(gw.lanPort, '/fhir/Consent', consentFor(SYNTHEA_PATIENT))).status, 201);
  const legacy = await post(gw.lanPort, '/fhir', readFileSync(SYNTHEA, 'utf8'));
  const future = await post(gw.lanPort, '/fhir', readFileSync(SYNTHEA, 'utf8'));
  t.equal(legacy.status, 202);
  t.equal(future.status, 202);

  const contextOf = (id: string) => JSON.parse((gw.db.prepare('SELECT context FROM queue_items WHERE message_id = ?').get(id) as { context: string }).context);
  const stored = contextOf(legacy.body.id);
  t.equal(stored.v, 1, 'ingest writes version 1');
  const { v: _v, ...unversioned } = stored;
  gw.db.prepare('UPDATE queue_items SET context = ? WHERE message_id = ?').run(JSON.stringify(unversioned), legacy.body.id);
  gw.db.prepare('UPDATE queue_items SET context = ? WHERE message_id = ?').run(JSON.stringify({ ...stored, v: 99 }), future.body.id);

  sim = await startSim(s);
  await waitFor(async () => (await itemState(gw, legacy.body.id)) === 'delivered', { timeoutMs: 15_000, what: 'delivery of the unversioned row' });
  t.ok(sim.opened.has(legacy.body.id), 'the row written before versioning is re-checked and delivered');
  await sleep(500); // several dispatcher polls
  t.not(await itemState(gw, future.body.id), 'delivered', 'the row with an unknown version is not delivered');
  t.notOk(sim.opened.has(future.body.id), 'and the simulator never saw it');
  t.ok(lines.some((l) => /version 99 is not known/.test(l)), 'the log says why');
});
