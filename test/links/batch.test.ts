import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { checkExactlyOnce, startRig, until } from '../helpers/link-rig.js';
import { createUplink, deliverBatch, batchOutcome } from '../../src/egress/index.js';
import { decodeBatch, BATCH_CONTENT_TYPE } from '../../src/receiver/index.js';
import type { Destination } from '../../src/model/index.js';
import { linkKeys, observation } from '../helpers/links.js';

t.test('a batching destination gets many compressed envelopes per request, each delivered once', async (t) => {
  const rig = await startRig(t, { compress: 'gzip', proxy: true });
  for (let i = 0; i < 40; i++) await rig.enqueue(`b-${i}`);
  rig.dispatcher.start();
  await until(t, 'all delivered', rig.allDelivered);
  checkExactlyOnce(t, rig);
  t.ok(rig.proxy!.stats.connections <= 4, `few connections (${rig.proxy!.stats.connections})`);
  t.ok(rig.sim.state.total <= 10, `40 messages in at most 10 requests (${rig.sim.state.total})`);
});

t.test('a partial failure retries only what failed', async (t) => {
  const failOnce = new Set(['p-2', 'p-5']);
  let open: ((body: Buffer, headers: http.IncomingHttpHeaders) => ReturnType<typeof rig.keys.opener>) | undefined;
  const rig = await startRig(t, {
    proxy: false,
    sim: {
      openEnvelope: (body, headers) => {
        const id = String(headers['idempotency-key']);
        if (failOnce.delete(id)) return { ok: false, status: 503, reason: 'try later' };
        return open!(body, headers);
      },
    },
  });
  // The rig seals with its own keys: open with those.
  open = rig.keys.opener;
  for (let i = 0; i < 8; i++) await rig.enqueue(`p-${i}`);
  rig.dispatcher.start();
  await until(t, 'all delivered', rig.allDelivered);
  checkExactlyOnce(t, rig);
  const attempts = Object.fromEntries((await rig.store.list({})).map((r) => [r.messageId, r.attempts]));
  t.equal(attempts['p-2'], 2, 'the failed item was sent again');
  t.equal(attempts['p-0'], 1, 'a delivered item of the same batch was not');
});

async function fakeReceiver(t: Test, answer: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void) {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const dest = (url: string): Destination => ({
  name: 'x',
  url,
  country: 'PK',
  kind: 'treatment',
  format: 'fhir',
  timeoutMs: 3000,
  concurrency: 1,
  retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 10, maxAgeMs: 60_000 },
  batch: { maxItems: 10, maxBytes: 1e6 },
});

t.test('malformed per-item answers and a wrong Content-Encoding fail the batch as a retry, never delivered', async (t) => {
  const keys = await linkKeys();
  const entries = ['m1', 'm2', 'm3'].map((id, i) => ({ id, payload: keys.seal(id, observation(i)), contentType: 'application/vnd.darwaza.envelope+json' }));
  const answers: Array<(res: http.ServerResponse, ids: string[]) => void> = [
    (res) => res.end('not json'),
    (res, ids) => res.end(JSON.stringify({ v: 1, results: ids.slice(1).map((id) => ({ id, status: 200 })) })), // one short
    (res, ids) => res.end(JSON.stringify({ v: 1, results: ids.map((id) => ({ id: `${id}x`, status: 200 })) })), // other ids
    (res, ids) => res.end(JSON.stringify({ v: 1, results: ids.map((id) => ({ id, status: 'ok' })) })),
    (res, ids) => {
      res.writeHead(200, { 'content-encoding': 'zstd' });
      res.end(JSON.stringify({ v: 1, results: ids.map((id) => ({ id, status: 200 })) }));
    },
    (res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end('definitely not gzip');
    },
    (res) => (res.writeHead(204), res.end()),
    (res) => (res.writeHead(415), res.end()),
  ];
  let which = 0;
  const url = await fakeReceiver(t, (req, body, res) => {
    const ids = decodeBatch(body).map((i) => (i.header.meta as { id: string }).id);
    t.equal(req.headers['content-type'], BATCH_CONTENT_TYPE);
    answers[which]!(res, ids);
  });
  const uplink = createUplink();
  t.teardown(() => uplink.close());
  for (which = 0; which < answers.length; which++) {
    const rs = await deliverBatch(uplink, dest(url), entries);
    t.same(rs.map((r) => r.kind), ['retry', 'retry', 'retry'], `answer ${which} is a retry for every item`);
  }
  // A well-formed answer, gzipped, is read per item.
  const good = await fakeReceiver(t, (_req, body, res) => {
    const ids = decodeBatch(body).map((i) => (i.header.meta as { id: string }).id);
    res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/vnd.darwaza.batch-result.v1+json' });
    res.end(gzipSync(JSON.stringify({ v: 1, results: ids.map((id, i) => ({ id, status: [200, 409, 422][i] })) })));
  });
  const rs = await deliverBatch(uplink, dest(good), entries);
  t.same(rs.map((r) => r.kind), ['delivered', 'delivered', 'dead']);
  t.same(batchOutcome({ kind: 'failed', error: 'network error (ECONNRESET)' }, ['a'], 0), [{ kind: 'retry', error: 'network error (ECONNRESET)' }]);
});

t.test('single-envelope destinations are unchanged: one POST per message, the JSON envelope as stored', async (t) => {
  const rig = await startRig(t, { dest: { batch: undefined } });
  for (let i = 0; i < 5; i++) await rig.enqueue(`s-${i}`);
  rig.dispatcher.start();
  await until(t, 'all delivered', rig.allDelivered);
  checkExactlyOnce(t, rig);
  t.equal(rig.sim.state.total, 5, 'five requests');
});
