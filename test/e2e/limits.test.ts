/**
 * Limits answer with back-pressure, never with loss or a stall (promises 5 and 7):
 * the queue quota, hundreds of slow or half-sent requests, a bad config at start.
 */
import t from 'tap';
import { connect } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { prepareDir, runCli, startGatewayProcess, startSimulatorProcess, simReceived, waitFor } from '../helpers/processes.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };

t.test('at the queue quota the gateway answers 503 + Retry-After and keeps what it accepted', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.limits.queueQuotaBytes = 1048576; // the smallest quota: 1 MiB
    c.limits.maxBodyBytes = 65536;
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 3600000 };
  });
  const gw = await startGatewayProcess(dir); // the uplink is down: everything stays queued
  t.teardown(() => gw.kill());
  t.equal((await fetch(`http://127.0.0.1:${ports.lan}/fhir/Patient`, { method: 'POST', headers: FHIR, body: JSON.stringify(patientFor('p-quota')) })).status, 202, 'registered first: the age is known');
  t.equal((await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, { method: 'POST', headers: FHIR, body: JSON.stringify(consentFor('p-quota')) })).status, 201);
  const accepted: string[] = [];
  let full: Response | undefined;
  const padded = (i: number) => ({ ...observation('p-quota', i), note: [{ text: 'x'.repeat(20_000) }] });
  t.equal((await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).status, 200, 'ready while there is room');
  for (let i = 0; i < 200 && !full; i++) {
    const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, { method: 'POST', headers: FHIR, body: JSON.stringify(padded(i)) });
    if (r.status === 202) accepted.push(((await r.json()) as { id: string }).id);
    else full = r;
  }
  t.ok(full, 'the quota was reached');
  t.equal(full!.status, 503);
  t.ok(Number(full!.headers.get('retry-after')) > 0, 'with Retry-After');
  t.equal(((await full!.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  const ready = await fetch(`http://127.0.0.1:${ports.admin}/readyz`);
  t.equal(ready.status, 503, '/readyz says not ready at quota');

  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());
  const got = await waitFor(async () => {
    const r = await simReceived(ports.sim);
    return r.count >= accepted.length ? r : undefined;
  }, { timeoutMs: 30_000, what: 'the accepted backlog delivered' });
  t.same(new Set(got.ids), new Set(accepted), 'everything accepted before the quota was delivered');
  await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).status === 200, { what: 'ready again once drained' });
});

t.test('hundreds of slow and half-sent requests do not stop the gateway serving others', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.limits.headersTimeoutMs = 2000;
    c.limits.requestTimeoutMs = 3000;
  });
  const gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());
  let closed = 0;
  const sockets = Array.from({ length: 300 }, (_, i) => {
    const s = connect(ports.lan, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => closed++);
    s.resume();
    s.write(i % 2 ? 'POST /fhir HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n{"resourceType":' : 'POST /fhir HTTP/1.1\r\nHost: x\r\n');
    return s;
  });
  const started = Date.now();
  const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, { method: 'POST', headers: FHIR, body: JSON.stringify(observation('p-slow')) });
  t.equal(r.status, 202, 'a good request is served while 300 slow ones hang');
  t.ok(Date.now() - started < 5000, 'promptly');
  const health = await fetch(`http://127.0.0.1:${ports.admin}/healthz`);
  t.equal(health.status, 200);
  // The server times the slow ones out instead of holding them forever.
  await waitFor(() => closed >= 290 || undefined, { timeoutMs: 15_000, what: 'slow requests timed out' });
  t.ok(closed >= 290, `${closed} of 300 slow connections were closed by the server's timeouts`);
  for (const s of sockets) s.destroy();
});

t.test('a bad config is refused at start with the file, field and expectation — no stack trace', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'gateway.config.json');
  writeFileSync(file, JSON.stringify({ destinations: [{ name: 'x', url: 'ftp://x', country: 'PK', kind: 'treatment' }], routes: [], limits: { maxBodyBytes: 'big' } }));
  const r = runCli(['start', '--config', file], { cwd: dir });
  t.equal(r.code, 3, 'exit 3: bad input file or config');
  t.match(r.stderr, /gateway\.config\.json:\d+:\d+: destinations\[0\]\.url: value "ftp:\/\/x" is not valid — expected an http:\/\/ or https:\/\/ URL/);
  t.match(r.stderr, /limits\.maxBodyBytes: value "big" has the wrong type — expected integer/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('without TLS and without an explicit allowPlainHttp the gateway refuses to start', async (t) => {
  const dir = t.testdir();
  const { configFile } = await (await import('../helpers/processes.js')).prepareDir(dir, (c) => {
    delete c.lan;
  });
  const r = runCli(['start', '--config', configFile, '--no-simulator'], { cwd: dir });
  t.equal(r.code, 3, 'exit 3: the config is refused');
  t.match(r.stderr, /plain HTTP is not allowed/);
  t.match(r.stderr, /lan\.allowPlainHttp to true explicitly/);
});
