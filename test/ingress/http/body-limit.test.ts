import t from 'tap';
import { serve } from '@hono/node-server';
import { request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createLanApp } from '../../../src/ingress/http/index.js';
import { createPipeline, PASS_THROUGH_STAGES } from '../../../src/pipeline/index.js';
import { memoryStore } from '../../helpers/memory-store.js';
import { testConfig } from '../../helpers/config.js';

/** A real HTTP server: the size limit with a Content-Length, and with a chunked body. */
t.test('bodies over the limit get 413 over real HTTP, with Content-Length and chunked', async (t) => {
  const config = testConfig();
  const store = memoryStore();
  const app = createLanApp({
    pipeline: createPipeline({ config, store, stages: PASS_THROUGH_STAGES }),
    messages: store,
    destinationNames: ['national-telemed'],
    defaultPurpose: 'TREAT',
    maxBodyBytes: 4096,
    shape: { maxDepth: 64, maxEntries: 100 },
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const send = (body: string, chunked: boolean) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/fhir/Observation', headers: { 'content-type': 'application/fhir+json', ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) }) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      if (chunked) for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000));
      else req.write(body);
      req.end();
    });
  const small = JSON.stringify({ resourceType: 'Observation', status: 'final' });
  const big = JSON.stringify({ resourceType: 'Observation', status: 'final', note: [{ text: 'x'.repeat(10_000) }] });
  t.equal((await send(small, false)).status, 202, 'a small body with Content-Length is accepted');
  t.equal((await send(small, true)).status, 202, 'a small chunked body is accepted');
  const a = await send(big, false);
  t.equal(a.status, 413, 'over the limit with Content-Length');
  t.match(a.text, /OperationOutcome/);
  t.equal((await send(big, true)).status, 413, 'over the limit, chunked');
  t.equal(store.writes.length, 2, 'only the small ones were stored');
});

/** A body read straight from node's request: whole bodies in many packets, and one that ends short. */
t.test('a body that ends before its Content-Length is refused, never stored truncated, and the server goes on', async (t) => {
  const config = testConfig();
  const store = memoryStore();
  const app = createLanApp({
    pipeline: createPipeline({ config, store, stages: PASS_THROUGH_STAGES }),
    messages: store,
    destinationNames: ['national-telemed'],
    defaultPurpose: 'TREAT',
    maxBodyBytes: 1 << 20,
    shape: { maxDepth: 64, maxEntries: 100 },
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const body = JSON.stringify({ resourceType: 'Observation', status: 'final', note: [{ text: 'y'.repeat(200_000) }] });
  /** Writes the request in pieces over a raw socket; `cut` bytes of the body are never sent (the write side is then closed). */
  const raw = (cut: number) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let answer = '';
      s.on('data', (d) => (answer += d));
      s.on('end', () => resolve(answer));
      s.on('close', () => resolve(answer));
      s.on('error', reject);
      s.write(`POST /fhir/Observation HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`);
      const sent = Buffer.from(body).subarray(0, Buffer.byteLength(body) - cut);
      for (let i = 0; i < sent.length; i += 7_000) s.write(sent.subarray(i, i + 7_000));
      if (cut > 0) s.end();
    });
  t.match(await raw(0), /^HTTP\/1\.1 202/, 'a 200 kB body sent in 7 kB pieces is read whole and accepted');
  t.equal(store.writes.length, 1);
  const short = await raw(1_000);
  t.notMatch(short, /^HTTP\/1\.1 202/, 'a body 1,000 bytes short is not accepted');
  t.equal(store.writes.length, 1, 'nothing truncated was stored');
  t.match(await raw(0), /^HTTP\/1\.1 202/, 'the server still serves the next request');
  t.equal(store.writes.length, 2);
});
