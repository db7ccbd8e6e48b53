import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Destination } from '../../src/model/index.js';
import { deliverResumable } from '../../src/egress/index.js';
import { startSimulator } from '../../src/sim/index.js';
import { checkSpkiPin, initCa, issueCertificate, spkiSha256 } from '../../src/pki/index.js';
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

// Over https the upload goes through the destination's own agent: its CA, client certificate and pins.
// The link resets every 400 kB, so a plain POST of this envelope could never arrive: only a
// resumed upload through the TLS-terminating proxy delivers it.
t.test('a destination with TLS settings gets resumable uploads over the same TLS', async (t) => {
  const dir = t.testdir();
  initCa(dir, { keyBits: 2048 });
  const issued = issueCertificate(dir, '127.0.0.1', { server: true, hosts: ['127.0.0.1'] });
  const pin = spkiSha256(readFileSync(issued.certFile));
  const rig = await startRig(t, {
    dir,
    dest: { tls: { ca: join(dir, 'ca.crt'), pinSha256: [pin] }, resumable: { aboveBytes: 200_000, chunkBytes: 128 * 1024 }, timeoutMs: 30_000 },
    sim: { dataDir: join(dir, 'sim') },
    uplink: { checkServerIdentity: (d, _host, cert) => checkSpkiPin(d, cert) },
    proxy: { tls: { key: readFileSync(issued.keyFile), cert: readFileSync(issued.certFile) }, faults: { resetAfterBytes: 400_000 } },
  });
  t.match(rig.d.url, /^https:/);
  await rig.enqueue('doc-4', { payload: big(4) });
  rig.dispatcher.start();
  await until(t, 'all delivered', rig.allDelivered, 120_000);
  checkExactlyOnce(t, rig);
  t.ok(rig.proxy!.stats.resets >= 2, `resumed over TLS after ${rig.proxy!.stats.resets} resets`);
});

t.test('a resumable upload refuses a server whose key does not match the pin', async (t) => {
  const dir = t.testdir();
  initCa(dir, { keyBits: 2048 });
  const issued = issueCertificate(dir, '127.0.0.1', { server: true, hosts: ['127.0.0.1'] });
  const rig = await startRig(t, {
    dir,
    dest: { tls: { ca: join(dir, 'ca.crt'), pinSha256: ['A'.repeat(43) + '='] }, resumable: { aboveBytes: 200_000, chunkBytes: 128 * 1024 }, timeoutMs: 30_000 },
    sim: { dataDir: join(dir, 'sim') },
    uplink: { checkServerIdentity: (d, _host, cert) => checkSpkiPin(d, cert) },
    proxy: { tls: { key: readFileSync(issued.keyFile), cert: readFileSync(issued.certFile) } },
  });
  await rig.enqueue('doc-5', { payload: big(5) });
  rig.dispatcher.start();
  await until(t, 'the dispatcher saw the refusal', async () => (await rig.store.list({})).some((r) => /ERR_TLS_PIN_MISMATCH/.test(r.lastError ?? '')), 60_000);
  const row = (await rig.store.list({})).find((r) => r.messageId === 'doc-5')!;
  t.not(row.state, 'delivered', 'not delivered to a server that fails the pin');
  t.match(row.lastError, /network error \(ERR_TLS_PIN_MISMATCH\)/, 'the reason names the pin');
  t.equal(rig.sim.state.total, 0, 'nothing reached the receiver');
  t.same(readdirSync(join(dir, 'sim', 'tus')).filter((f) => !f.startsWith('.')), [], 'no upload was even created');
});

// The link drops after the last chunk arrived but before its answer did: the client's HEAD must read
// "complete" (the receiver accepted it), not 404, or it would upload the whole envelope again.
t.test('an upload whose last answer was lost is finished by HEAD, not uploaded again', async (t) => {
  const dir = t.testdir();
  const sim = await startSimulator({ dataDir: join(dir, 'sim') });
  t.teardown(() => sim.stop());
  const simUrl = new URL(sim.url);
  const body = Buffer.from(big(6));
  let bytesUp = 0;
  let lostAnswers = 0;
  const proxy = createServer((req, res) => {
    const fwd = request({ host: simUrl.hostname, port: simUrl.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const offset = Number(req.headers['upload-offset'] ?? NaN);
      const completes = req.method === 'PATCH' && offset + Number(req.headers['content-length']) === body.byteLength;
      if (completes && lostAnswers === 0) {
        lostAnswers++;
        answer.resume();
        res.socket?.destroy();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.on('data', (c: Buffer) => (bytesUp += c.length));
    req.pipe(fwd);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => proxy.close(() => r())));
  const d = { name: 'up', url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`, country: 'PK', kind: 'telemedicine', format: 'fhir', timeoutMs: 30_000, concurrency: 1, retry: { maxAttempts: 3, baseMs: 100, maxMs: 1000 }, resumable: { aboveBytes: 1000, chunkBytes: body.byteLength } } as unknown as Destination;
  const result = await deliverResumable(d, body, { idempotencyKey: 'doc-6', contentType: 'application/json' });
  t.equal(result.kind, 'delivered', 'the client reads the finished upload from HEAD');
  t.equal(lostAnswers, 1, 'the completing answer was lost once');
  t.equal(sim.state.ids.filter((id) => id === 'doc-6').length, 1, 'received once');
  t.ok(bytesUp < 1.1 * body.byteLength, `bytes sent ${bytesUp} = ${(bytesUp / body.byteLength).toFixed(2)} × the body: not uploaded again`);
  // An upload the receiver did not accept is not remembered: HEAD says 404 and the client starts over.
  const create = await fetch(new URL('/tus/', sim.url), { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': '5', 'upload-metadata': `contentType ${Buffer.from('application/json').toString('base64')}` } });
  const location = new URL(create.headers.get('location')!, sim.url);
  const patch = await fetch(location, { method: 'PATCH', headers: { 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: 'nope!' });
  t.equal(patch.status, 503, 'a body that does not open is answered 503 (upload it again)');
  const head = await fetch(location, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } });
  t.equal(head.status, 404, 'and is not remembered as finished');
});
