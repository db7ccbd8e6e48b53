import t, { type Test } from 'tap';
import { startMllpServer, type MllpAccept, type MllpServer } from '../../../src/ingress/mllp/index.js';
import { parseHl7 } from '../../../src/hl7v2/index.js';
import { RawClient } from '../../fixtures/hl7v2/mllp-client.js';

const MiB = 1024 * 1024;

/** A valid v2 message of about `size` bytes (the bulk in one NTE), routed opaque so nothing maps it. */
function bigMessage(sender: string, controlId: string, size: number): string {
  const head = `MSH|^~\\&|${sender}|FAC|DARWAZA|PK|20240316120000+0500||ZZZ^Z01|${controlId}|P|2.5.1\rEVN|Z01|20240316120000+0500\rNTE|1||`;
  return head + 'x'.repeat(Math.max(0, size - head.length - 1)) + '\r';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

/** Accepts after `delayMs`, or once `gate` opened when one is given; records every control id it stored. */
function slowAccept(stored: string[], delayMs: number, gate?: { open: Promise<void>; senders: string[]; arrived?: string[] }): MllpAccept {
  return async (i) => {
    if (gate?.senders.includes(i.parsed.header.sendingApplication)) {
      gate.arrived?.push(i.parsed.header.sendingApplication);
      await gate.open;
    }
    await sleep(delayMs);
    const id = i.parsed.header.controlId;
    stored.push(id);
    return { kind: 'accepted', messageId: `m-${id}`, storedAck: i.ackFor(`m-${id}`) };
  };
}

function controlIdsOf(acks: string[]): string[] {
  return acks.map((a) => {
    const msa = parseHl7(a).segment('MSA')!;
    if (msa.value(1) !== 'AA') throw new Error(`unexpected ACK code ${msa.value(1)}`);
    return msa.value(2);
  });
}

/** Sends every message at once, without waiting for any ACK. */
function blast(c: RawClient, sender: string, n: number, size: number): string[] {
  const ids = Array.from({ length: n }, (_, k) => `${sender}-${k}`);
  for (const id of ids) c.send(bigMessage(sender, id, size));
  return ids;
}

async function start(t: Test, opts: { accept: MllpAccept; perConnection: number; total: number }): Promise<MllpServer> {
  const server = await startMllpServer({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 4 * MiB,
    accept: opts.accept,
    isOpaqueRouted: () => true,
    maxPendingBytesPerConnection: opts.perConnection,
    maxPendingBytes: opts.total,
  });
  t.teardown(() => server.close());
  return server;
}

t.test('finding 11: MLLP back-pressure counts bytes, not frames: a connection is paused on its byte budget and every frame is answered once', async (t) => {
  const budget = 4 * MiB;
  const stored: string[] = [];
  // The first frames wait until the server has paused the connection: on a busy machine a 10 ms
  // accept alone may keep up with the sender, and the budget would never be reached.
  const gate = { open: Promise.resolve(), senders: ['BIG'] };
  const server = await start(t, { accept: slowAccept(stored, 10, gate), perConnection: budget, total: 64 * MiB });
  gate.open = new Promise<void>((resolve) => {
    const poll = setInterval(() => server.stats().pauses > 0 && (clearInterval(poll), resolve()), 5);
    setTimeout(() => (clearInterval(poll), resolve()), 20_000).unref();
  });
  let sampledMax = 0;
  const sampler = setInterval(() => (sampledMax = Math.max(sampledMax, server.stats().pendingBytes)), 2);
  t.teardown(() => clearInterval(sampler));

  const c = await RawClient.connect(server.port);
  t.teardown(() => c.end());
  const ids = blast(c, 'BIG', 64, MiB);
  const acks = await c.waitFor(64, 60_000);
  clearInterval(sampler);

  t.equal(acks.length, 64, 'every frame was answered');
  t.same(controlIdsOf(acks), ids, 'each frame acknowledged exactly once, in order');
  t.same(stored, ids, 'each frame stored exactly once');
  await sleep(50);
  t.equal(c.acks.length, 64, 'no extra ACKs');
  const s = server.stats();
  t.ok(s.pauses > 0, `reading was paused (${s.pauses} pauses)`);
  t.ok(s.pendingBytesPeakPerConnection <= budget + MiB, `held at most the budget and one frame (${s.pendingBytesPeakPerConnection} bytes)`);
  t.ok(s.pendingBytesPeakPerConnection > budget, 'the budget was reached, so the pause was for bytes');
  t.ok(sampledMax <= budget + MiB, `sampled pending bytes stayed under budget + one frame (${sampledMax})`);
  t.equal(s.pendingBytes, 0, 'nothing pending once all is answered');
  t.equal(s.accepted, 64);
});

t.test('finding 11: a second connection is served while the first is paused on its own byte budget', async (t) => {
  const budget = 2 * MiB;
  const stored: string[] = [];
  let release!: () => void;
  const gate = { open: new Promise<void>((r) => (release = r)), senders: ['SLOW'] };
  const server = await start(t, { accept: slowAccept(stored, 0, gate), perConnection: budget, total: 64 * MiB });

  const slow = await RawClient.connect(server.port);
  t.teardown(() => slow.end());
  const slowIds = blast(slow, 'SLOW', 16, 512 * 1024);
  await until(() => server.stats().pauses >= 1 && server.stats().pendingBytes > budget, 'the slow connection to pause');

  const other = await RawClient.connect(server.port);
  t.teardown(() => other.end());
  other.send(bigMessage('FAST', 'FAST-1', 4096));
  const [ack] = await other.waitFor(1, 10_000);
  t.same(controlIdsOf([ack]), ['FAST-1'], 'the other connection got its ACK');
  t.equal(slow.acks.length, 0, 'while the first still waits for its answers');
  t.equal(server.stats().pauses, 1, 'and stays paused');
  t.ok(server.stats().pendingBytesPeakPerConnection <= budget + 512 * 1024, 'having held no more than its budget and one frame');

  release();
  const acks = await slow.waitFor(16, 30_000);
  t.same(controlIdsOf(acks), slowIds, 'the paused connection is answered in full, each frame once');
  t.equal(server.stats().pendingBytes, 0);
});

t.test('finding 11: with a small total budget two busy connections are both paused and both complete', async (t) => {
  const total = 3 * MiB;
  const frameSize = MiB;
  const stored: string[] = [];
  let release!: () => void;
  const arrived: string[] = [];
  const gate = { open: new Promise<void>((r) => (release = r)), senders: ['A', 'B'], arrived };
  const server = await start(t, { accept: slowAccept(stored, 5, gate), perConnection: 16 * MiB, total });

  const a = await RawClient.connect(server.port);
  const b = await RawClient.connect(server.port);
  t.teardown(() => (a.end(), b.end()));
  const aIds = blast(a, 'A', 16, frameSize);
  await until(() => server.stats().pauses === 1, 'A to pause on the total');
  const bIds = blast(b, 'B', 16, frameSize);
  // nothing is answered while the gate is closed, so each pause is a different connection
  await until(() => server.stats().pauses === 2, 'B to pause on the total');
  await sleep(100);
  const held = server.stats();
  t.equal(held.pauses, 2, 'both connections are paused');
  t.ok(held.pendingBytes <= total + 2 * frameSize, `the total held stays near its budget (${held.pendingBytes} bytes)`);
  t.same(arrived, ['A', 'B'], 'each connection has one frame in hand: B read while the total was over, so nothing that fits is refused');
  t.equal(stored.length, 0, 'nothing answered yet');

  release();
  const [aAcks, bAcks] = await Promise.all([a.waitFor(16, 60_000), b.waitFor(16, 60_000)]);
  t.same(controlIdsOf(aAcks), aIds, 'A is answered in full, each frame once');
  t.same(controlIdsOf(bAcks), bIds, 'B is answered in full, each frame once');
  t.equal(stored.length, 32);
  t.equal(new Set(stored).size, 32, 'nothing stored twice');
  const s = server.stats();
  t.ok(s.pendingBytesPeak <= total + 2 * frameSize, `the total never went past its budget and one frame per connection (${s.pendingBytesPeak})`);
  t.equal(s.pendingBytes, 0);
});
