import t from 'tap';
import { MllpFramer, frame, type FramerEvent } from '../../../src/ingress/mllp/index.js';

const frames = (evs: FramerEvent[]) => evs.filter((e) => e.kind === 'frame').map((e) => (e as { payload: Buffer }).payload.toString());
const garbage = (evs: FramerEvent[]) => evs.filter((e) => e.kind === 'garbage').reduce((n, e) => n + (e as { bytes: number }).bytes, 0);

t.test('a frame split at every possible byte boundary comes out whole, once', async (t) => {
  const msg = 'MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||خان';
  const wire = frame(msg);
  for (let cut = 0; cut <= wire.length; cut++) {
    const f = new MllpFramer({ maxFrameBytes: 1000 });
    const evs = [...f.push(wire.subarray(0, cut)), ...f.push(wire.subarray(cut))];
    if (frames(evs).length !== 1 || frames(evs)[0] !== msg) t.fail(`cut at ${cut}`);
  }
  const f = new MllpFramer({ maxFrameBytes: 1000 });
  const evs: FramerEvent[] = [];
  for (const b of wire) evs.push(...f.push(Buffer.from([b])));
  t.same(frames(evs), [msg], 'one byte at a time');
});

t.test('several frames in one read come out in order', async (t) => {
  const f = new MllpFramer({ maxFrameBytes: 1000 });
  t.same(frames(f.push(Buffer.concat([frame('one'), frame('two'), frame('three')]))), ['one', 'two', 'three']);
});

t.test('garbage between frames is discarded and counted', async (t) => {
  const f = new MllpFramer({ maxFrameBytes: 1000 });
  const evs = f.push(Buffer.concat([Buffer.from('junk'), frame('a'), Buffer.from('\r\n'), frame('b'), Buffer.from('xyz')]));
  t.same(frames(evs), ['a', 'b']);
  t.equal(garbage(evs), 9);
  t.notOk(f.inFrame);
});

t.test('a start byte inside a frame drops the partial frame as garbage and starts anew', async (t) => {
  const f = new MllpFramer({ maxFrameBytes: 1000 });
  const evs = f.push(Buffer.concat([Buffer.from([0x0b]), Buffer.from('partial'), frame('whole')]));
  t.same(frames(evs), ['whole']);
  t.equal(garbage(evs), 8);
});

t.test('0x1C not followed by 0x0D stays in the payload', async (t) => {
  const f = new MllpFramer({ maxFrameBytes: 1000 });
  const evs = f.push(Buffer.from([0x0b, 0x41, 0x1c, 0x42, 0x1c, 0x0d]));
  t.same(frames(evs), ['A\x1cB']);
});

t.test('an oversize frame is not buffered: its head is kept, its size counted, the next frame is fine', async (t) => {
  const f = new MllpFramer({ maxFrameBytes: 1024, headBytes: 64 });
  const big = 'MSH|^~\\&|A|B|C|D|1||ORU^R01|BIG-1|P|2.5\r' + 'OBX|1|ED|x||' + 'A'.repeat(10_000);
  const wire = frame(big);
  const evs: FramerEvent[] = [];
  for (let i = 0; i < wire.length; i += 333) {
    evs.push(...f.push(wire.subarray(i, i + 333)));
    t.ok(f.buffered <= 1024 + 333, 'never holds more than the limit plus one chunk');
  }
  const over = evs.find((e) => e.kind === 'oversize') as { head: Buffer; bytes: number };
  t.ok(over);
  t.equal(over.bytes, Buffer.byteLength(big));
  t.equal(over.head.length, 64);
  t.equal(over.head.toString(), big.slice(0, 64));
  t.same(frames(f.push(frame('next'))), ['next']);
});

t.test('a frame cut off is reported as in progress', async (t) => {
  const f = new MllpFramer({ maxFrameBytes: 1000 });
  f.push(Buffer.from([0x0b, 0x41, 0x42]));
  t.ok(f.inFrame);
  t.equal(f.buffered, 2);
});
