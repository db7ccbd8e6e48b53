/**
 * The spine end to end, with real processes: `darwaza init` in a temp folder, the
 * gateway and the upstream simulator as two child processes, real HTTP on loopback.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FIXTURES,
  prepareDir,
  runCli,
  simControl,
  simReceived,
  startGatewayProcess,
  startSimulatorProcess,
  waitDelivered,
  waitFor,
} from '../helpers/processes.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { post } from '../helpers/http.js';

const SYNTHEA = join(FIXTURES, 'synthea-r4', 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');
const SYNTHEA_PATIENT = 'd88f994a-5efa-421d-9c40-5f116d2114a6';


t.test('a Synthea bundle is acknowledged, delivered and recorded by the simulator exactly once', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir);
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  const gw = await startGatewayProcess(dir);
  t.teardown(async () => {
    await gw.kill();
    await sim.kill();
  });
  const consent = await post(ports.lan, '/fhir/Consent', consentFor(SYNTHEA_PATIENT));
  t.equal(consent.status, 201, 'the consent is registered');

  const r = await post(ports.lan, '/fhir', readFileSync(SYNTHEA, 'utf8'), { 'idempotency-key': 'synthea-1' });
  t.equal(r.status, 202);
  t.equal(r.headers.get('location'), `/messages/${r.body.id}`);
  t.same(
    r.body.destinations.map((d: { name: string; decision: string }) => [d.name, d.decision]),
    [['national-telemed', 'queued']],
    JSON.stringify(r.body.destinations),
  );
  await waitDelivered(ports.lan, r.body.id);
  const again = await post(ports.lan, '/fhir', readFileSync(SYNTHEA, 'utf8'), { 'idempotency-key': 'synthea-1' });
  t.equal(again.body.id, r.body.id, 'a retried post returns the first answer');
  const received = await simReceived(ports.sim);
  t.same(received.ids, [r.body.id], 'recorded exactly once');
});

t.test('the uplink down: everything queued is delivered when it returns, emergency first, then FIFO', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].concurrency = 1;
    c.destinations[0].retry = { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 };
  });
  const gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());
  await post(ports.lan, '/fhir/Patient', patientFor('p-fifo')); // registered first: its age is known
  t.equal((await post(ports.lan, '/fhir/Consent', consentFor('p-fifo'))).status, 201);
  const normal: string[] = [];
  for (let i = 0; i < 5; i++) normal.push((await post(ports.lan, '/fhir/Observation', observation('p-fifo', i))).body.id);
  const urgent: string[] = [];
  for (let i = 0; i < 2; i++) urgent.push((await post(ports.lan, '/fhir/Observation', observation('p-fifo', 10 + i), { 'x-purpose-of-use': 'ETREAT', 'x-break-glass-reason': 'unconscious patient in the emergency room' })).body.id);
  const status = await (await fetch(`http://127.0.0.1:${ports.lan}/messages/${normal[0]}`)).json() as any;
  t.not(status.destinations[0].state, 'delivered', 'nothing is delivered while the uplink is down');

  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());
  const received = await waitFor(async () => {
    const r = await simReceived(ports.sim);
    return r.count === 7 ? r : undefined;
  }, { what: 'all 7 delivered', timeoutMs: 30_000 });
  t.same(received.ids.slice(0, 2), urgent, 'the emergency lane first');
  t.same(received.ids.slice(2), normal, 'then first in, first out');
});

t.test('503 with Retry-After and dropped connections are retried; a 400 is a dead letter the CLI shows and retries', async (t) => {
  const dir = t.testdir();
  const { ports, configFile } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 300, maxAgeMs: 600000 };
  });
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  const gw = await startGatewayProcess(dir);
  t.teardown(async () => {
    await gw.kill();
    await sim.kill();
  });
  await post(ports.lan, '/fhir/Patient', patientFor('p-retry')); // registered first: its age is known
  t.equal((await post(ports.lan, '/fhir/Consent', consentFor('p-retry'))).status, 201);

  await simControl(ports.sim, { failRate: 1, failStatus: 503, retryAfterS: 1 });
  const a = (await post(ports.lan, '/fhir/Observation', observation('p-retry', 1))).body.id;
  await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${ports.lan}/messages/${a}`)).json()) as any).destinations[0].attempts >= 1, { what: 'a first attempt' });
  await simControl(ports.sim, { failRate: 0, dropRate: 1 });
  await new Promise((r) => setTimeout(r, 1500));
  await simControl(ports.sim, { dropRate: 0 });
  const delivered = (await waitDelivered(ports.lan, a)) as any;
  t.ok(delivered.destinations[0].attempts >= 2, `retried (${delivered.destinations[0].attempts} attempts)`);

  await simControl(ports.sim, { status: 400 });
  const b = (await post(ports.lan, '/fhir/Observation', observation('p-retry', 2))).body.id;
  await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${ports.lan}/messages/${b}`)).json()) as any).destinations[0].state === 'dead', { what: 'a dead letter' });
  const listed = runCli(['queue', 'list', '--state', 'dead', '--config', configFile]);
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, b, 'the CLI lists the dead letter');
  t.notMatch(listed.stdout, /p-retry/, 'and shows no patient identity');

  await simControl(ports.sim, { status: null });
  const retried = runCli(['queue', 'retry', '--config', configFile, b]);
  t.equal(retried.code, 0, retried.stderr);
  await waitDelivered(ports.lan, b);
  const got = await simReceived(ports.sim);
  t.same(new Set(got.ids), new Set([a, b]));
  t.equal(got.count, 2);
});
