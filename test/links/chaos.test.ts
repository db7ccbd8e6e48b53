/**
 * One test per link fault, through the chaos proxy: everything acknowledged is delivered, each
 * exactly once after the receiver's de-duplication.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCa, issueCertificate } from '../../src/pki/index.js';
import { checkExactlyOnce, startRig, until, type Rig, type RigOptions } from '../helpers/link-rig.js';

const N = 24;

async function run(t: Test, o: RigOptions, during?: (rig: Rig) => Promise<void>) {
  const rig = await startRig(t, { compress: 'gzip', ...o });
  for (let i = 0; i < N; i++) await rig.enqueue(`c-${i}`);
  rig.dispatcher.start();
  if (during) await during(rig);
  await until(t, 'all delivered', rig.allDelivered, 120_000);
  checkExactlyOnce(t, rig);
  return rig;
}

t.test('latency and jitter', async (t) => {
  await run(t, { proxy: { faults: { latencyMs: 60, jitterMs: 40 } } });
});

t.test('a bandwidth cap', async (t) => {
  const rig = await run(t, { proxy: { faults: { bandwidthBytesPerSec: 16 * 1024, latencyMs: 20 } } });
  t.ok(rig.proxy!.stats.bytesUp > 0);
});

t.test('connections reset mid-body', async (t) => {
  await run(t, { proxy: { faults: { resetAfterBytes: 3_000 } } }, async (rig) => {
    await until(t, 'some resets', () => rig.proxy!.stats.resets >= 3);
    rig.proxy!.set({ resetAfterBytes: 0 });
  });
});

t.test('a blackhole (accept, then silence)', async (t) => {
  await run(t, { dest: { timeoutMs: 800 }, proxy: { faults: { blackhole: true } } }, async (rig) => {
    await until(t, 'connections swallowed', () => rig.proxy!.stats.connections >= 2);
    rig.proxy!.set({ blackhole: false });
  });
});

t.test('half-open connections: the receiver stored it, the answer never came back', async (t) => {
  await run(t, { dest: { timeoutMs: 800 }, proxy: { faults: { halfOpen: true } } }, async (rig) => {
    await until(t, 'the receiver stored something whose answer was lost', () => rig.sim.state.ids.length > 0);
    rig.proxy!.set({ halfOpen: false });
  });
});

t.test('slow responses', async (t) => {
  await run(t, { dest: { timeoutMs: 5_000 }, proxy: { faults: { slowResponseMs: 400 } } });
});

t.test('bursts of 429 and 503 with Retry-After', async (t) => {
  await run(t, { sim: { burst: 4, failStatus: 429, retryAfterS: 1 } }, async (rig) => {
    await until(t, 'the 429 burst was spent', () => rig.sim.state.control.burst === 0);
    rig.sim.control({ burst: 4, failStatus: 503 });
  });
});

t.test('TLS handshake failures', async (t) => {
  const dir = t.testdir();
  initCa(dir, { keyBits: 2048 });
  const issued = issueCertificate(dir, '127.0.0.1', { server: true, hosts: ['127.0.0.1'] });
  const caFile = join(dir, 'ca.crt');
  await run(
    t,
    {
      dir,
      dest: { tls: { ca: caFile } },
      proxy: { tls: { key: readFileSync(issued.keyFile), cert: readFileSync(issued.certFile) }, faults: { tlsFail: true } },
    },
    async (rig) => {
      await until(t, 'handshakes refused', () => rig.sim.state.total === 0 && rig.dispatcher.breakerState(rig.d.name) === 'open', 30_000);
      rig.proxy!.set({ tlsFail: false });
    },
  );
});
