import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkExactlyOnce, startRig, until } from '../helpers/link-rig.js';

// ~1.5 MB of incompressible text in a FHIR attachment (an imaging report's PDF, say).
const big = (seed: number) => JSON.stringify({ resourceType: 'DocumentReference', id: `doc-${seed}`, content: [{ attachment: { data: randomBytes(1_100_000).toString('base64') } }] });

t.test('a large payload uploads resumably through connection resets, sending little more than itself', async (t) => {
  const dir = t.testdir();
  const rig = await startRig(t, {
    dir,
    dest: { resumable: { aboveBytes: 200_000, chunkBytes: 128 * 1024 }, timeoutMs: 30_000 },
    sim: { dataDir: join(dir, 'sim') },
    proxy: { faults: { resetAfterBytes: 400_000 } },
  });
  await rig.enqueue('doc-1', { payload: big(1) });
  await rig.enqueue('small-1');
  rig.dispatcher.start();
  await until(t, 'the small one arrived', () => rig.sim.state.ids.includes('small-1'));
  await until(t, 'all delivered', rig.allDelivered, 120_000);
  checkExactlyOnce(t, rig);
  const envelopeBytes = (await rig.store.list({})).find((r) => r.messageId === 'doc-1')!.payloadBytes;
  t.ok(rig.proxy!.stats.resets >= 3, `the link was reset ${rig.proxy!.stats.resets} times`);
  const ratio = rig.proxy!.stats.bytesUp / envelopeBytes;
  t.ok(ratio <= 1.3, `bytes sent ${rig.proxy!.stats.bytesUp} = ${ratio.toFixed(2)} × the envelope (resumed, not restarted)`);
  t.same(readdirSync(join(dir, 'sim', 'tus')).filter((f) => !f.startsWith('.')), [], 'the finished upload is not kept');
});

t.test('a receiver that loses its upload state mid-way gets a clean fresh upload', async (t) => {
  const dir = t.testdir();
  const tusDir = join(dir, 'sim', 'tus');
  const rig = await startRig(t, {
    dir,
    dest: { resumable: { aboveBytes: 200_000, chunkBytes: 128 * 1024 }, timeoutMs: 30_000 },
    sim: { dataDir: join(dir, 'sim') },
    proxy: { faults: { resetAfterBytes: 500_000 } },
  });
  await rig.enqueue('doc-2', { payload: big(2) });
  rig.dispatcher.start();
  await until(t, 'the first reset', () => rig.proxy!.stats.resets >= 1);
  // The receiver's disk forgets the partial upload.
  for (const f of readdirSync(tusDir)) rmSync(join(tusDir, f), { force: true, recursive: true });
  rig.proxy!.set({ resetAfterBytes: 0 });
  await until(t, 'all delivered', rig.allDelivered, 120_000);
  checkExactlyOnce(t, rig);
});
