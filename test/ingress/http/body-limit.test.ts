import t from 'tap';
import { serve } from '@hono/node-server';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
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
