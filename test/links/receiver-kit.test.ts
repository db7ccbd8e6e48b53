import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BATCH_CONTENT_TYPE,
  createReceiverKit,
  decodeBatch,
  encodeBatch,
  envelopeToItem,
  fileReceiptStore,
  memoryReceiptStore,
  parseBatchResults,
  type AcceptedEnvelope,
  type ReceiverKitOptions,
} from '../../src/receiver/index.js';
import { linkKeys, observation } from '../helpers/links.js';

async function serve(t: Test, opts: ReceiverKitOptions) {
  const kit = createReceiverKit(opts);
  const server = http.createServer(kit.nodeHandler());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
/** Changes one base64 character to another valid one (the envelope still parses). */
const flip = (b: Buffer, at: number) => (b[at] = b[at] === 0x41 ? 0x42 : 0x41);
const single = (url: string, id: string, body: Buffer) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/vnd.darwaza.envelope+json', 'idempotency-key': id }, body: new Uint8Array(body) });
const batch = (url: string, bodies: Buffer[]) =>
  fetch(url, { method: 'POST', headers: { 'content-type': BATCH_CONTENT_TYPE }, body: new Uint8Array(encodeBatch(bodies.map((b) => envelopeToItem(b)!))) });

t.test('a single envelope is verified, opened, decompressed, persisted once; a repeat is 409', async (t) => {
  const keys = await linkKeys();
  const stored: AcceptedEnvelope[] = [];
  const url = await serve(t, { open: keys.opener, persist: (a) => void stored.push(...a) });
  const obs = observation(1);
  t.equal((await single(url, 'm1', keys.seal('m1', obs, { compress: 'gzip' }))).status, 200);
  t.equal((await single(url, 'm1', keys.seal('m1', obs, { compress: 'gzip' }))).status, 409, 'a replay is 409 (counts as delivered)');
  t.equal(stored.length, 1);
  t.equal(Buffer.from(stored[0]!.payload!).toString(), obs, 'the payload is the Observation, decompressed');
  t.equal((await single(url, 'm2', keys.seal('other-id', obs))).status, 400, 'Idempotency-Key must equal meta.id');
  const tampered = keys.seal('m3', obs);
  flip(tampered, tampered.indexOf('"data":"') + 10);
  t.equal((await single(url, 'm3', tampered)).status, 401, 'a broken signature is refused');
  t.equal(stored.length, 1);
});

t.test('a batch is answered per item: accepted, duplicate, refused, and the frame is binary (no base64)', async (t) => {
  const keys = await linkKeys();
  const stored: string[] = [];
  const url = await serve(t, { open: keys.opener, persist: (a) => void stored.push(...a.map((x) => x.id)) });
  await single(url, 'b0', keys.seal('b0', observation(0)));
  const bad = keys.seal('b3', observation(3));
  flip(bad, bad.indexOf('"sig":"') + 10);
  const bodies = [keys.seal('b0', observation(0)), keys.seal('b1', observation(1), { compress: 'br' }), keys.seal('b2', observation(2), { compress: 'gzip' }), bad];
  const frame = encodeBatch(bodies.map((b) => envelopeToItem(b)!));
  t.ok(frame.length < bodies.reduce((n, b) => n + b.length, 0), 'the frame is smaller than the JSON envelopes');
  t.same(decodeBatch(frame).length, 4);
  const res = await batch(url, bodies);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /batch-result\.v1/);
  const results = parseBatchResults(await res.text(), ['b0', 'b1', 'b2', 'b3']);
  t.same(results?.map((r) => r.status), [409, 200, 200, 401]);
  t.same(stored, ['b0', 'b1', 'b2']);
});

t.test('nothing is answered 2xx before persist succeeded; the retry after a failed persist is accepted', async (t) => {
  const keys = await linkKeys();
  let failing = true;
  const stored: string[] = [];
  const receipts = memoryReceiptStore();
  const url = await serve(t, {
    open: keys.opener,
    receipts,
    persist: (a) => {
      if (failing) throw new Error('disk full');
      stored.push(...a.map((x) => x.id));
    },
  });
  const body = keys.seal('p1', observation(1));
  const r1 = await single(url, 'p1', body);
  t.equal(r1.status, 503);
  t.equal(r1.headers.get('retry-after'), '1');
  const r2 = parseBatchResults(await (await batch(url, [keys.seal('p2', observation(2))])).text(), ['p2']);
  t.same(r2?.map((r) => r.status), [503], 'per item too');
  t.same(receipts.ids(), [], 'no receipt for what was not stored');
  failing = false;
  t.equal((await single(url, 'p1', body)).status, 200);
  t.same(stored, ['p1']);
});

t.test('malformed frames, unknown encodings and decompression bombs are refused, never a crash', async (t) => {
  const keys = await linkKeys();
  const url = await serve(t, { open: keys.opener, maxDecompressedBytes: 10_000 });
  const junk = await fetch(url, { method: 'POST', headers: { 'content-type': BATCH_CONTENT_TYPE }, body: new Uint8Array(Buffer.from("DZB1\u0001garbage")) });
  t.equal(junk.status, 400);
  const frame = encodeBatch([envelopeToItem(keys.seal('x', observation(1)))!]);
  t.equal((await fetch(url, { method: 'POST', headers: { 'content-type': BATCH_CONTENT_TYPE }, body: new Uint8Array(frame.subarray(0, frame.length - 5)) })).status, 400, 'truncated');
  const big = keys.seal('bomb', Buffer.alloc(200_000), { compress: 'gzip' });
  t.equal((await single(url, 'bomb', big)).status, 413, 'a payload over the limit once decompressed');
});

t.test('the file receipt store remembers across restarts', async (t) => {
  const dir = t.testdir();
  const a = fileReceiptStore(`${dir}/r.log`, { fsync: true });
  await a.add(['x', 'y']);
  const b = fileReceiptStore(`${dir}/r.log`);
  t.ok(b.has('x') && b.has('y'));
  t.same(b.ids(), ['x', 'y']);
});
