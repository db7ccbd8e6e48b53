import t from 'tap';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { startChaosProxy } from '../helpers/chaos-proxy.js';

// The chaos proxy must only fail a link the ways it is told to: under a bandwidth cap, a big chunk
// followed at once by a tiny one (a request's last bytes) must never overtake it. When each chunk had
// its own timer, a tiny chunk handled later in the same event-loop turn could fire first, and a tus
// PATCH arrived with its last 220 bytes moved 64 KiB earlier: the assembled upload did not verify and
// was sent again from the start.
t.test('bytes cross a bandwidth-capped link in order, even when the event loop is busy', async (t) => {
  const received: Buffer[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const sink = net.createServer((s) => {
    s.on('data', (c) => received.push(c));
    s.on('end', () => done());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  t.teardown(() => sink.close());
  const proxy = await startChaosProxy({ targetPort: (sink.address() as net.AddressInfo).port, faults: { bandwidthBytesPerSec: 64 * 1024 * 1024 } });
  t.teardown(() => proxy.stop());
  // Keep the loop busy now and then, the way a gateway sealing envelopes in the same process does.
  const busy = setInterval(() => {
    const until = Date.now() + 3;
    while (Date.now() < until);
  }, 5);
  t.teardown(() => clearInterval(busy));

  const sent = createHash('sha256');
  const client = net.connect(proxy.port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  let total = 0;
  // A full read's worth and then a few bytes, again and again: the proxy reads them as a big chunk and
  // a tiny one in the same turn of the event loop.
  for (let i = 0; i < 1500; i++) {
    for (const size of [64 * 1024, 1 + (i % 300)]) {
      const chunk = randomBytes(size);
      sent.update(chunk);
      total += size;
      if (!client.write(chunk)) await new Promise<void>((r) => client.once('drain', () => r()));
    }
    await new Promise((r) => setImmediate(r));
  }
  client.end();
  await finished;
  const got = Buffer.concat(received);
  t.equal(got.length, total, 'every byte arrived');
  t.equal(createHash('sha256').update(got).digest('hex'), sent.digest('hex'), 'in the order it was sent');
});
