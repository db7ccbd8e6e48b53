import t from 'tap';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinkHealth, linkStatus, probeDestination, type LinkStatus } from '../../src/egress/index.js';
import { checkSpkiPin, initCa, issueCertificate } from '../../src/pki/index.js';
import { command as link, formatLinks } from '../../src/cli/commands/link.js';
import type { Destination } from '../../src/model/index.js';
import { startChaosProxy } from '../helpers/chaos-proxy.js';
import { startSimulator } from '../../src/sim/index.js';

const dest = (url: string, over: Partial<Destination> = {}): Destination => ({
  name: 'national-telemed',
  url,
  country: 'PK',
  kind: 'treatment',
  format: 'fhir',
  timeoutMs: 3000,
  concurrency: 1,
  retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 10, maxAgeMs: 60_000 },
  ...over,
});

t.test('link figures: median answer time, goodput over the observed span, retry rate, last error', async (t) => {
  let now = 1_000_000;
  const h = createLinkHealth({ clock: () => now, windowMs: 60_000 });
  h.exchange('a', { bytesOut: 10_000, ms: 300, status: 200 });
  now += 1000;
  h.exchange('a', { bytesOut: 10_000, ms: 500, status: 200 });
  now += 1000;
  h.exchange('a', { bytesOut: 10_000, ms: 3000, error: 'timeout after 3000 ms' });
  h.outcome('a', 'delivered');
  h.outcome('a', 'retry');
  const f = h.figures('a');
  t.equal(f.rttMs, 300, 'the median of answered exchanges');
  t.equal(f.goodputBytesPerSec, Math.round(20_000 / 2.3), 'bytes answered over the span they took');
  t.equal(f.retryRate, 0.5);
  t.equal(f.lastError, 'timeout after 3000 ms');
  now += 120_000;
  t.same(h.figures('a'), { rttMs: null, goodputBytesPerSec: 0, retryRate: null, lastError: 'timeout after 3000 ms' }, 'the window forgets');
  const s = linkStatus(
    ['a', 'b'],
    h,
    {
      breaker: (d) => (d === 'a' ? 'open' : undefined),
      counts: [
        { destination: 'a', state: 'queued', count: 3, bytes: 3000 },
        { destination: 'a', state: 'retrying', count: 1, bytes: 500 },
        { destination: 'a', state: 'delivered', count: 9, bytes: 9000 },
      ],
      oldest: [{ destination: 'a', enqueuedAt: now - 90_000 }],
    },
    now,
  );
  t.match(s[0], { destination: 'a', breaker: 'open', bytesWaiting: 3500, messagesWaiting: 4, oldestQueuedAgeS: 90 });
  t.match(s[1], { destination: 'b', breaker: 'closed', bytesWaiting: 0, oldestQueuedAgeS: null });
  t.match(formatLinks(s).join('\n'), /a\s+-\s+0 B\/s\s+-\s+open\s+2 min\s+4 \(3\.4 KiB\)\s+last error: timeout/);
});

t.test('link test says in plain words what is wrong', async (t) => {
  // Nothing listening.
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const freePort = (free.address() as AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  let steps = await probeDestination(dest(`http://127.0.0.1:${freePort}/`));
  t.match(steps.find((s) => s.check === 'reachable'), { verdict: 'problem', says: /connection refused/ });
  t.match(steps.find((s) => s.check === 'throughput'), { verdict: 'skipped' });

  // A working plain-http receiver.
  const sim = await startSimulator({ port: 0 });
  t.teardown(() => sim.stop());
  steps = await probeDestination(dest(`${sim.url}/fhir`), { checkRecipient: () => ({ ok: true, says: 'sealed to key x' }) });
  t.match(steps.find((s) => s.check === 'throughput'), { verdict: 'ok', says: /kbit\/s/ });
  t.match(steps.find((s) => s.check === 'tls'), { verdict: 'skipped', says: /http:\/\// });
  t.notOk(steps.some((s) => s.verdict === 'problem'));
  t.equal(sim.state.ids.length, 0, 'the probe delivered nothing');

  // TLS: an untrusted CA, then trusted but the pin does not match.
  const dir = t.testdir();
  initCa(dir, { keyBits: 2048 });
  const issued = issueCertificate(dir, '127.0.0.1', { server: true, hosts: ['127.0.0.1'] });
  const proxy = await startChaosProxy({ targetPort: sim.port, tls: { key: readFileSync(issued.keyFile), cert: readFileSync(issued.certFile) } });
  t.teardown(() => proxy.stop());
  steps = await probeDestination(dest(`${proxy.url}/fhir`));
  t.match(steps.find((s) => s.check === 'tls'), { verdict: 'problem', says: /CA this gateway does not trust|cannot be verified/ });
  const pinned = dest(`${proxy.url}/fhir`, { tls: { ca: join(dir, 'ca.crt'), pinSha256: ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='] } });
  steps = await probeDestination(pinned, { checkPin: (d, cert) => checkSpkiPin(d, cert) });
  t.match(steps.find((s) => s.check === 'tls'), { verdict: 'ok' });
  t.match(steps.find((s) => s.check === 'pin'), { verdict: 'problem', says: /does not match any pinned/ });
  proxy.set({ tlsFail: true });
  steps = await probeDestination(pinned);
  t.match(steps.find((s) => s.check === 'tls'), { verdict: 'problem' });
});

t.test('darwaza link status reads the gateway\'s /status', async (t) => {
  const links: LinkStatus[] = [
    { destination: 'national-telemed', rttMs: 312, goodputBytesPerSec: 28_000, retryRate: 0.05, breaker: 'closed', oldestQueuedAgeS: 42, bytesWaiting: 2048, messagesWaiting: 1 },
  ];
  let auth: string | undefined;
  const server = http.createServer((req, res) => {
    auth = req.headers.authorization;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ links }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const out: string[] = [];
  const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(l), isTTY: false, cwd: t.testdir(), env: { DARWAZA_TOKEN: 'tok' }, readStdin: async () => '' };
  const code = await link.run(['status', '--admin', `http://127.0.0.1:${(server.address() as AddressInfo).port}`], io);
  t.equal(code, 0);
  t.equal(auth, 'Bearer tok');
  t.match(out.join('\n'), /national-telemed\s+312 ms\s+27\.3 KiB\/s\s+5%\s+closed\s+42 s\s+1 \(2\.0 KiB\)/);
  out.length = 0;
  t.equal(await link.run(['status', '--admin', 'http://127.0.0.1:1'], io), 4, 'an unreachable gateway is a runtime error');
  t.match(out.join('\n'), /cannot reach the gateway/);
});
