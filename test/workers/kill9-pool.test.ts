/**
 * Promise 1 with the worker pool busy: the gateway runs as a child process, its pool
 * workers started (the metric says so) and checking every post, under 16 concurrent
 * senders; it is SIGKILLed mid-load, 3 times. Every message answered 202 must reach the
 * simulator, once; no sender may get anything but 202 or a dropped connection.
 */
import t from 'tap';
import { join } from 'node:path';
import { prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitFor, type Running } from '../helpers/processes.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { sleep } from '../helpers/net.js';

const KILLS = 3;
const SENDERS = 16;

t.test('every 202 is delivered exactly once across SIGKILLs with the worker pool busy', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 20, maxDelayMs: 200, maxAgeMs: 3600000 };
  });
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());
  const env = { DARWAZA_POOL_SIZE: '2', DARWAZA_POOL_START_DELAY_MS: '0' };
  const acked = new Set<string>();
  const refused: number[] = [];
  for (let round = 0; round < KILLS; round++) {
    const gw = await startGatewayProcess(dir, { env });
    if (round === 0) {
      // The Patient first, so the gateway knows the age (an unknown age is read as a minor's).
      const p = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientFor('p-kill')) });
      t.equal(p.status, 202, 'patient accepted');
      const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(consentFor('p-kill')) });
      t.equal(r.status, 201, 'consent stored');
    }
    // The pool's workers are up: from here every post is checked in a worker.
    await waitFor(
      async () => {
        const m = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text();
        return Number(/^darwaza_worker_pool_ready (\d+)/m.exec(m)?.[1] ?? 0) >= 1 || undefined;
      },
      { timeoutMs: 120_000, what: 'pool workers ready' },
    );
    let running = true;
    const senders = Array.from({ length: SENDERS }, async (_, s) => {
      for (let i = 0; running; i++) {
        try {
          const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, {
            method: 'POST',
            headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' },
            body: JSON.stringify(observation('p-kill', round * 100_000 + s * 1000 + i)),
          });
          if (r.status === 202) acked.add(((await r.json()) as { id: string }).id);
          else refused.push(r.status);
        } catch {
          return; // the connection died with the gateway: not acknowledged, so not promised
        }
      }
    });
    await sleep(1000 + Math.floor(Math.random() * 1500));
    await gw.kill('SIGKILL');
    running = false;
    await Promise.all(senders);
  }
  t.ok(acked.size >= KILLS * 2, `load was real: ${acked.size} acknowledged`);
  t.same(refused, [], 'no sender got an answer other than 202');

  const gw: Running = await startGatewayProcess(dir, { env });
  t.teardown(() => gw.kill());
  let last = await simReceived(ports.sim);
  await waitFor(
    async () => {
      last = await simReceived(ports.sim);
      return [...acked].every((id) => last.ids.includes(id)) || undefined;
    },
    { timeoutMs: 90_000, what: 'every acknowledged message delivered' },
  ).catch(() => undefined);
  const seen = new Set(last.ids);
  t.same([...acked].filter((id) => !seen.has(id)), [], 'nothing acknowledged was lost');
  t.equal(last.ids.length, seen.size, 'each id recorded once');
  t.comment(`pool busy: ${acked.size} acknowledged over ${KILLS} SIGKILLs, ${SENDERS} senders`);
});
