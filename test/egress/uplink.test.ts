import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Destination } from '../../src/model/index.js';
import { createUplink, classifyStatus, parseRetryAfter } from '../../src/egress/index.js';

function dest(url: string, over: Partial<Destination> = {}): Destination {
  return {
    name: 'nhs-pk',
    url,
    country: 'PK',
    kind: 'treatment',
    format: 'fhir',
    timeoutMs: 2_000,
    concurrency: 4,
    retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 100, maxAgeMs: 60_000 },
    ...over,
  };
}

interface Seen {
  key?: string;
  type?: string;
  body: string;
}

async function server(t: Test, handler: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void) {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const one: Seen = {
        key: req.headers['idempotency-key'] as string | undefined,
        type: req.headers['content-type'],
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(one);
      handler(req, res, one);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/ingest`, seen };
}

const send = (up: ReturnType<typeof createUplink>, d: Destination, key = 'msg-1') =>
  up.deliver(d, Buffer.from('{"envelope":true}'), { idempotencyKey: key, contentType: 'application/json' });

t.test('the uplink maps statuses to delivered, retry and dead, against a real server', async (t) => {
  let status = 200;
  let headers: Record<string, string> = {};
  const { url, seen } = await server(t, (_req, res) => {
    res.writeHead(status, headers);
    res.end('{"body":"never quoted"}');
  });
  const up = createUplink({ clock: () => Date.parse('Thu, 26 Nov 2026 08:00:00 GMT') });
  t.teardown(() => up.close());
  const d = dest(url);
  const cases: [number, Record<string, string>, unknown][] = [
    [200, {}, { kind: 'delivered', status: 200 }],
    [202, {}, { kind: 'delivered', status: 202 }],
    [409, {}, { kind: 'delivered', status: 409 }],
    [400, {}, { kind: 'dead', status: 400, error: 'HTTP 400 (permanent)' }],
    [403, {}, { kind: 'dead', status: 403 }],
    [422, {}, { kind: 'dead', status: 422 }],
    [408, {}, { kind: 'retry', status: 408, error: 'HTTP 408' }],
    [429, { 'retry-after': '3' }, { kind: 'retry', status: 429, retryAfterMs: 3_000 }],
    [503, { 'retry-after': 'Thu, 26 Nov 2026 08:00:30 GMT' }, { kind: 'retry', status: 503, retryAfterMs: 30_000 }],
    [500, {}, { kind: 'retry', status: 500 }],
  ];
  for (const [s, h, expected] of cases) {
    status = s;
    headers = h;
    const r = await send(up, d, `k-${s}`);
    t.match(r, expected, `HTTP ${s}`);
    t.notMatch(JSON.stringify(r), /never quoted/, 'no body content in the result');
  }
  t.equal(seen[0]!.key, 'k-200', 'Idempotency-Key is the message id');
  t.equal(seen[0]!.type, 'application/json');
  t.equal(seen[0]!.body, '{"envelope":true}');
});

t.test('network errors and timeouts are retried, naming only the error code', async (t) => {
  const up = createUplink();
  t.teardown(() => up.close());
  const closed = await server(t, () => {});
  // A port nobody listens on.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  t.match(await send(up, dest(`http://127.0.0.1:${port}/`)), { kind: 'retry', error: 'network error (ECONNREFUSED)' });
  // A server that never answers.
  const started = Date.now();
  t.match(await send(up, dest(closed.url, { timeoutMs: 150 })), { kind: 'retry', error: 'timeout after 150 ms' });
  t.ok(Date.now() - started < 3_000, 'gave up at the timeout, not later');
  // A server that drops the connection.
  const dropper = await server(t, (req) => req.socket.destroy());
  t.match(await send(up, dest(dropper.url, { name: 'drop' })), { kind: 'retry', error: /network error \(ECONNRESET\)/ });
});

t.test('keep-alive: many deliveries reuse a few sockets', async (t) => {
  const sockets = new Set<unknown>();
  const { url } = await server(t, (req, res) => {
    sockets.add(req.socket);
    res.end('ok');
  });
  const up = createUplink();
  t.teardown(() => up.close());
  const d = dest(url, { concurrency: 4 });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => send(up, d, `m${i}`)));
  t.ok(results.every((r) => r.kind === 'delivered'));
  t.ok(sockets.size <= 4, `${sockets.size} sockets for 100 deliveries`);
});

t.test('Retry-After parsing: seconds, HTTP-date, junk, and a cap', async (t) => {
  const now = Date.parse('2026-11-26T08:00:00Z');
  t.equal(parseRetryAfter('120', now), 120_000);
  t.equal(parseRetryAfter('Thu, 26 Nov 2026 08:01:00 GMT', now), 60_000);
  t.equal(parseRetryAfter('Thu, 26 Nov 2026 07:00:00 GMT', now), 0, 'a past date means now');
  t.equal(parseRetryAfter('soon', now), undefined);
  t.equal(parseRetryAfter(undefined, now), undefined);
  t.equal(parseRetryAfter('99999999', now), 24 * 3600_000);
  t.match(classifyStatus(302, undefined, now), { kind: 'retry', error: 'unexpected HTTP 302' });
});

t.test('https with mutual TLS: the CA, client certificate and key come from the destination', async (t) => {
  const dir = t.testdir();
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-subj', '/CN=test-ca', '-days', '2');
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=${who}`);
    ossl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.pem`), '-days', '2', '-extfile', f('san.ext'));
  }
  const srv = https.createServer(
    { key: readFileSync(f('server.key')), cert: readFileSync(f('server.pem')), ca: readFileSync(f('ca.pem')), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      req.resume();
      res.end('ok');
    },
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }));
  const url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/in`;

  const pinned: string[] = [];
  const up = createUplink({
    checkServerIdentity: (d, _host, cert) => {
      pinned.push(d.name);
      return d.name === 'refuse' ? new Error('pin mismatch') : cert.subject ? undefined : new Error('no subject');
    },
  });
  t.teardown(() => up.close());
  const tls = { ca: f('ca.pem'), cert: f('client.pem'), key: f('client.key') };
  t.match(await send(up, dest(url, { tls })), { kind: 'delivered', status: 200 });
  t.same(pinned, ['nhs-pk'], 'the identity hook ran');
  t.match(await send(up, dest(url, { name: 'refuse', tls })), { kind: 'retry', error: /network error/ }, 'the hook can refuse');
  t.match(await send(up, dest(url, { name: 'no-client-cert', tls: { ca: f('ca.pem') } })), { kind: 'retry', error: /network error/ });
  t.match(await send(up, dest(url, { name: 'unknown-ca' })), { kind: 'retry', error: /network error/ }, 'an unknown CA is refused');
});
