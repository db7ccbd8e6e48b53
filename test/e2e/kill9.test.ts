/**
 * Promise 1: nothing acknowledged is ever lost. The gateway runs as a child process
 * under concurrent load and is SIGKILLed at random moments, again and again; every
 * message that was answered 202 must reach the simulator, each id's effect once.
 */
import t from 'tap';
import { join } from 'node:path';
import { prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitFor, type Running } from '../helpers/processes.js';
import { consentFor, observation } from '../../bench/fixtures.js';
import { sleep } from '../helpers/net.js';

const ROUNDS = 12;
const WORKERS = 16;

t.test('every message answered 202 is delivered exactly once across 12 SIGKILLs', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 20, maxDelayMs: 200, maxAgeMs: 3600000 };
  });
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());

  const acked = new Set<string>();
  let refused = 0;
  let gw: Running | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    gw = await startGatewayProcess(dir);
    if (round === 0) {
      const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(consentFor('p-kill')) });
      t.equal(r.status, 201);
    }
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        try {
          const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, {
            method: 'POST',
            headers: { 'content-type': 'application/fhir+json' },
            body: JSON.stringify(observation('p-kill', round * 100000 + w * 1000 + i)),
          });
          if (r.status === 202) acked.add(((await r.json()) as { id: string }).id);
          else refused++;
        } catch {
          // The connection died with the gateway: not acknowledged, so not promised.
          return;
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await sleep(150 + Math.floor(Math.random() * 600));
    await gw.kill('SIGKILL');
    running = false;
    await Promise.all(workers);
  }
  t.ok(acked.size > ROUNDS * 10, `load was real: ${acked.size} messages acknowledged`);
  t.equal(refused, 0, 'no request was refused');

  gw = await startGatewayProcess(dir);
  t.teardown(() => gw!.kill());
  const received = await waitFor(
    async () => {
      const r = await simReceived(ports.sim);
      return [...acked].every((id) => r.ids.includes(id)) ? r : undefined;
    },
    { timeoutMs: 60_000, what: 'every acknowledged message delivered' },
  );
  t.equal(new Set(received.ids).size, received.ids.length, 'each id recorded once');
  const missing = [...acked].filter((id) => !received.ids.includes(id));
  t.same(missing, [], 'nothing acknowledged was lost');
  const stats = (await (await fetch(`http://127.0.0.1:${ports.sim}/_sim/stats`)).json()) as { total?: number; duplicates?: number };
  t.comment(`acknowledged ${acked.size}, simulator recorded ${received.count} distinct (posts incl. retried duplicates: ${JSON.stringify(stats)})`);
});
