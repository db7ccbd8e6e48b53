import t from 'tap';
import net from 'node:net';
import { startMllpServer, frame } from '../../../src/ingress/mllp/index.js';
import { parseHl7 } from '../../../src/hl7v2/index.js';
import { loadHl7 } from '../../fixtures/hl7v2/load.js';
import { sendOnce } from '../../fixtures/hl7v2/mllp-client.js';

t.test('a sender that never reads its ACKs stops being served, is cut at the idle limit, and others carry on', async (t) => {
  let accepted = 0;
  const server = await startMllpServer({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 1 << 20,
    idleTimeoutMs: 500,
    accept: async (i) => ({ kind: 'accepted', messageId: `m${accepted++}`, storedAck: i.ackFor('m') }),
  });
  t.teardown(() => server.close());
  const s = net.connect(server.port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.pause(); // never read
  const msg = frame(loadHl7('adt-a03-discharge.hl7'));
  let stop = false;
  const writeMore = () => {
    while (!stop && !s.destroyed) if (!s.write(msg)) return void s.once('drain', writeMore);
  };
  writeMore();
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
  clearTimeout(timer);
  stop = true;
  t.equal(outcome, 'closed', 'the server cut the connection');
  const plateau = accepted;
  t.ok(plateau > 0, `${plateau} messages were served before the socket filled`);
  t.equal(server.stats().idleTimeouts, 1);
  const [ack] = await sendOnce(server.port, loadHl7('adt-a08-update.hl7'));
  t.equal(parseHl7(ack).segment('MSA')!.value(1), 'AA', 'the listener serves others');
});
