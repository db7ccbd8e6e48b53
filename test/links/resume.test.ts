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

// The link drops mid-chunk, on a capped line, several times: each resume starts at the offset the
// receiver holds (HEAD), the bytes written before the drop are kept, and the upload assembled from
// those pieces verifies the first time. A corrupted assembly would be sent again whole (≥ 2×).
t.test('chunks interrupted on a shaped link resume where they stopped and assemble intact', async (t) => {
  const dir = t.testdir();
  const rig = await startRig(t, {
    dir,
    dest: { resumable: { aboveBytes: 200_000, chunkBytes: 256 * 1024 }, timeoutMs: 60_000 },
    sim: { dataDir: join(dir, 'sim') },
    proxy: { faults: { bandwidthBytesPerSec: 512 * 1024, resetEveryMs: 1200 } },
  });
  await rig.enqueue('doc-3', { payload: big(3) });
  rig.dispatcher.start();
  await until(t, 'all delivered', rig.allDelivered, 180_000);
  checkExactlyOnce(t, rig);
  const envelopeBytes = (await rig.store.list({})).find((r) => r.messageId === 'doc-3')!.payloadBytes;
  t.ok(rig.proxy!.stats.resets >= 1, `the link dropped ${rig.proxy!.stats.resets} time(s) mid-upload`);
  // Each drop may waste at most the chunk that was on the wire (plus request headers); a whole re-send
  // of the envelope would be far above this.
  const { bytesUp, resets } = rig.proxy!.stats;
  const bound = envelopeBytes + resets * (256 * 1024 + 4096) + 64 * 1024;
  t.ok(bytesUp <= bound, `bytes sent ${bytesUp} = ${(bytesUp / envelopeBytes).toFixed(2)} × the envelope, within one chunk per drop (${bound})`);
  t.ok(bytesUp < 2 * envelopeBytes, 'never sent whole again');
});
