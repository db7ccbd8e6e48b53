import t, { type Test } from 'tap';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startMllpServer, type MllpServer, type MllpServerOptions } from '../../../src/ingress/mllp/index.js';
import { parseHl7 } from '../../../src/hl7v2/index.js';
import { openSqliteAccept, type SqliteAccept } from '../../fixtures/hl7v2/sqlite-accept.js';
import { loadHl7, withControlId, withMshField } from '../../fixtures/hl7v2/load.js';
import { RawClient, sendOnce } from '../../fixtures/hl7v2/mllp-client.js';

const require = createRequire(import.meta.url);
// simple-hl7: a client library nobody here wrote (CommonJS, untyped).
const hl7 = require('simple-hl7') as {
  Server: { createTcpClient(opts: { host: string; port: number; keepalive?: boolean }): SimpleClient };
};
interface SimpleSegment { getField(n: number): string; getComponent(f: number, c: number): string }
interface SimpleMessage { header: SimpleSegment; getSegment(name: string): SimpleSegment | undefined; toString(): string }
interface SimpleClient { send(msg: string, cb: (err: Error | null, ack: SimpleMessage) => void): void; close(): void }

/** simple-hl7's header fields start at MSH-3. */
const msh = (ack: SimpleMessage, n: number) => ack.header.getField(n - 2);

function simpleSend(port: number, text: string): Promise<SimpleMessage> {
  const client = hl7.Server.createTcpClient({ host: '127.0.0.1', port, keepalive: false });
  return new Promise((resolve, reject) => {
    client.send(text, (err, ack) => (err ? reject(err) : resolve(ack)));
  });
}

async function setup(t: Test, over: Partial<MllpServerOptions> = {}, store?: { quota?: number }) {
  const dir = t.testdir();
  const file = join(dir, 'gateway.db');
  const acc: SqliteAccept = openSqliteAccept(file, store);
  const server: MllpServer = await startMllpServer({
    host: '127.0.0.1',
    port: 0,
    accept: acc.accept,
    maxFrameBytes: 1 << 20,
    idleTimeoutMs: 10_000,
    ...over,
  });
  t.teardown(async () => {
    await server.close();
    acc.close();
  });
  const reader = () => new Database(file, { readonly: true });
  return { server, acc, file, reader };
}

const seg = (ack: string, name: string) => parseHl7(ack).segment(name)!;

t.test('simple-hl7 sends ADT and ORU messages and gets ACKs that check field by field', async (t) => {
  const { server, acc } = await setup(t);
  for (const name of ['adt-a03-discharge.hl7', 'adt-a08-update.hl7', 'oru-r01-lab-a.hl7']) {
    const text = loadHl7(name);
    const orig = parseHl7(text).header;
    const ack = await simpleSend(server.port, text);
    t.equal(msh(ack, 3), orig.receivingApplication, `${name}: MSH-3 ← MSH-5`);
    t.equal(msh(ack, 4), orig.receivingFacility, 'MSH-4 ← MSH-6');
    t.equal(msh(ack, 5), orig.sendingApplication, 'MSH-5 ← MSH-3');
    t.equal(msh(ack, 6), orig.sendingFacility, 'MSH-6 ← MSH-4');
    t.equal(msh(ack, 9), `ACK^${orig.triggerEvent}^ACK`, 'MSH-9');
    t.ok(msh(ack, 10) && msh(ack, 10) !== orig.controlId, 'MSH-10 is a new id');
    t.equal(msh(ack, 11), 'P');
    t.equal(msh(ack, 12), orig.version, 'version echoed');
    const msa = ack.getSegment('MSA')!;
    t.equal(msa.getField(1), 'AA', 'MSA-1');
    t.equal(msa.getField(2), orig.controlId, 'MSA-2 = original MSH-10');
    t.notOk(ack.getSegment('ERR'), 'no ERR on AA');
  }
  t.equal(acc.count(), 3);
  const ack = await simpleSend(server.port, loadHl7('adt-a01-pk-cnic.hl7'));
  t.equal(ack.getSegment('MSA')!.getField(1), 'CA', 'MSH-15=AL, MSH-16=NE: one commit accept');
  t.equal(acc.count(), 4);
  t.equal(server.stats().acks.AA, 3);
  const bad = loadHl7('oru-r01-lab-a.hl7').replace('OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||10.9', 'OBX|1|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||ten');
  const ae = await simpleSend(server.port, withControlId(bad, 'BAD-NM'));
  t.equal(ae.getSegment('MSA')!.getField(1), 'AE', 'a content error gets AE');
  t.equal(ae.getSegment('MSA')!.getField(2), 'BAD-NM');
  const err = ae.getSegment('ERR');
  t.ok(err, 'with an ERR segment');
  t.equal(err!.getComponent(2, 1), 'OBX', 'ERR-2 names the segment');
  t.equal(err!.getComponent(3, 1), '102', 'ERR-3 data type error');
  t.equal(err!.getField(4), 'E');
  t.equal(acc.count(), 4, 'nothing stored');
});

t.test('the AA arrives only after the message is committed: another connection to the file sees it', async (t) => {
  const { server, reader } = await setup(t);
  const text = withControlId(loadHl7('oru-r01-lab-a.hl7'), 'ORDER-1');
  const [ack] = await sendOnce(server.port, text);
  t.equal(seg(ack, 'MSA').value(1), 'AA');
  const db = reader();
  const row = db.prepare("SELECT m.text, m.fhir_entries, m.source FROM hl7test_messages m JOIN hl7test_idempotency k ON k.message_id = m.id WHERE k.key = 'hl7v2|CHUGHTAI_LIS|CHUGHTAI_LHR|ORDER-1'").get() as { text: string; fhir_entries: number; source: string };
  db.close();
  t.ok(row, 'row committed before the ACK was sent');
  t.equal(row.text, text);
  t.equal(row.fhir_entries, 8, 'the mapped Bundle came with it (Patient, Encounter, 5 Observations, DiagnosticReport)');
  t.equal(row.source, 'CHUGHTAI_LIS|CHUGHTAI_LHR');
});

t.test('a retransmit gets the same ACK again and no second message', async (t) => {
  const { server, acc } = await setup(t);
  const text = loadHl7('adt-a08-update.hl7');
  const [first] = await sendOnce(server.port, text);
  const [again] = await sendOnce(server.port, text);
  t.equal(again, first, 'byte-identical ACK');
  t.equal(acc.count(), 1);
  t.equal(server.stats().duplicates, 1);
  const [other] = await sendOnce(server.port, withMshField(text, 4, 'OTHER_FACILITY'));
  t.not(seg(other, 'MSA').value(1), undefined);
  t.equal(acc.count(), 2, 'same MSH-10 from another facility is another message');
});

t.test('enhanced mode: CA then the application AA on the same connection, per MSH-15/16', async (t) => {
  const { server, acc } = await setup(t);
  const lab = loadHl7('oru-r01-lab-b.hl7'); // MSH-15 NE, MSH-16 AL
  const acks = await sendOnce(server.port, lab, 2, 300);
  t.same(acks.map((a) => seg(a, 'MSA').value(1)), ['AA'], 'NE/AL: only the application ACK');
  const both = await sendOnce(server.port, withMshField(withMshField(lab, 15, 'AL'), 10, 'AKU-2'), 2);
  t.same(both.map((a) => seg(a, 'MSA').value(1)), ['CA', 'AA']);
  t.same(both.map((a) => seg(a, 'MSA').value(2)), ['AKU-2', 'AKU-2']);
  t.equal(parseHl7(both[0]).header.acceptAckType, 'NE', 'ACKs ask for no ACK');
  t.equal(parseHl7(both[0]).encodingChars, '^~\\&#', 'sender\'s encoding characters echoed');
  const replay = await sendOnce(server.port, withMshField(withMshField(lab, 15, 'AL'), 10, 'AKU-2'), 2);
  t.same(replay, both, 'a retransmit replays both ACKs');
  t.equal(acc.count(), 2);
});

t.test('wrong version and unknown message types get AR with an ERR segment; the listener carries on', async (t) => {
  const { server, acc } = await setup(t);
  const [v] = await sendOnce(server.port, withMshField(loadHl7('adt-a03-discharge.hl7'), 12, '2.1'));
  t.equal(seg(v, 'MSA').value(1), 'AR');
  t.equal(seg(v, 'MSA').value(2), 'SHIFA-000103');
  t.equal(seg(v, 'ERR').value(1, 4, 1), '203', 'a v2.1 ACK carries the error in ERR-1 (pre-2.5 layout)');
  t.equal(seg(v, 'ERR').value(1, 1), 'MSH');
  t.equal(seg(v, 'ERR').value(1, 3), '12');
  const [dft] = await sendOnce(server.port, loadHl7('dft-p03.hl7'));
  t.equal(seg(dft, 'MSA').value(1), 'AR');
  t.equal(seg(dft, 'ERR').value(3, 1), '200');
  const [a99] = await sendOnce(server.port, withMshField(loadHl7('adt-a03-discharge.hl7'), 9, 'ADT^A99'));
  t.equal(seg(a99, 'MSA').value(1), 'AR');
  t.equal(seg(a99, 'ERR').value(3, 1), '201');
  t.equal(acc.count(), 0);
  const [ok] = await sendOnce(server.port, loadHl7('adt-a03-discharge.hl7'));
  t.equal(seg(ok, 'MSA').value(1), 'AA');
});

t.test('an unmapped type is accepted as opaque v2 only where a route says so', async (t) => {
  const { server, acc, reader } = await setup(t, { isOpaqueRouted: (type) => type === 'DFT^P03' });
  const [ack] = await sendOnce(server.port, loadHl7('dft-p03.hl7'));
  t.equal(seg(ack, 'MSA').value(1), 'AA');
  const db = reader();
  const row = db.prepare('SELECT fhir_entries, message_type FROM hl7test_messages').get() as { fhir_entries: number | null; message_type: string };
  db.close();
  t.same(row, { fhir_entries: null, message_type: 'DFT^P03' }, 'no FHIR for an opaque message');
  t.equal(acc.count(), 1);
});

t.test('a non-HL7 payload gets AR; content errors get AE with ERR naming the field', async (t) => {
  const { server, acc } = await setup(t);
  const [nonsense] = await sendOnce(server.port, '{"resourceType":"Patient","name":"Secret"}');
  t.equal(seg(nonsense, 'MSA').value(1), 'AR');
  t.equal(seg(nonsense, 'MSA').value(2), '');
  t.notOk(nonsense.includes('Secret'));
  const noObr = 'MSH|^~\\&|L|F|D|P|20240101||ORU^R01|NOOBR|P|2.5.1\rPID|1||123^^^H^MR||Secret^Name';
  const [ae] = await sendOnce(server.port, noObr);
  t.equal(seg(ae, 'MSA').value(1), 'AE');
  t.equal(seg(ae, 'MSA').value(2), 'NOOBR');
  t.equal(seg(ae, 'ERR').value(2, 1), 'OBR');
  t.equal(seg(ae, 'ERR').value(3, 1), '100');
  t.notOk(ae.includes('Secret'));
  const [noId] = await sendOnce(server.port, 'MSH|^~\\&|L|F|D|P|20240101||ORU^R01||P|2.5.1\rPID|1');
  t.equal(seg(noId, 'MSA').value(1), 'AE');
  t.equal(seg(noId, 'ERR').value(3, 1), '101');
  t.equal(acc.count(), 0);
});

t.test('garbage, split and concatenated frames on one connection: every message gets its ACK, in order', async (t) => {
  const { server, acc } = await setup(t);
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.end());
  const msgs = ['G-1', 'G-2', 'G-3'].map((id) => withControlId(loadHl7('adt-a03-discharge.hl7'), id));
  const wire = Buffer.concat([
    Buffer.from('\r\nnoise before\x00\xff'),
    ...msgs.map((m) => Buffer.concat([Buffer.from([0x0b]), Buffer.from(m), Buffer.from([0x1c, 0x0d]), Buffer.from('junk')])),
  ]);
  c.write(wire.subarray(0, 50));
  await new Promise((r) => setTimeout(r, 20));
  c.write(wire.subarray(50, 51));
  await new Promise((r) => setTimeout(r, 20));
  c.write(wire.subarray(51));
  const acks = await c.waitFor(3);
  t.same(acks.map((a) => seg(a, 'MSA').value(2)), ['G-1', 'G-2', 'G-3']);
  t.same(acks.map((a) => seg(a, 'MSA').value(1)), ['AA', 'AA', 'AA']);
  t.equal(acc.count(), 3);
  t.ok(server.stats().garbageBytes >= 12 + 3 * 4, 'garbage counted');
  t.notOk(c.closed, 'the connection stays open');
});

t.test('a 10 MB frame over the limit gets AR, is never stored, and the listener stays alive', async (t) => {
  const { server, acc } = await setup(t, { maxFrameBytes: 1 << 20 });
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.end());
  const head = withControlId(loadHl7('oru-r01-lab-a.hl7'), 'HUGE-1');
  const big = head + '\rOBX|9|ED|PDF^Report^L||^AP^PDF^Base64^' + 'A'.repeat(10 * 1024 * 1024);
  c.send(big);
  const [ar] = await c.waitFor(1, 15_000);
  t.equal(seg(ar, 'MSA').value(1), 'AR');
  t.equal(seg(ar, 'MSA').value(2), 'HUGE-1', 'MSA-2 echoed from the kept head');
  t.match(seg(ar, 'MSA').value(3), /frame limit/);
  t.equal(server.stats().oversizeFrames, 1);
  c.send(withControlId(head, 'AFTER-HUGE'));
  const acks = await c.waitFor(2);
  t.equal(seg(acks[1], 'MSA').value(1), 'AA', 'same connection still works');
  const [fresh] = await sendOnce(server.port, withControlId(head, 'NEW-CONN'));
  t.equal(seg(fresh, 'MSA').value(1), 'AA', 'a new connection gets AA');
  t.equal(acc.count(), 2);
});

t.test('a connection dropped mid-frame stores nothing and leaves the listener alive', async (t) => {
  const { server, acc } = await setup(t);
  const c = await RawClient.connect(server.port);
  const text = loadHl7('adt-a03-discharge.hl7');
  c.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(text.slice(0, 60))]));
  await new Promise((r) => setTimeout(r, 30));
  c.end();
  await new Promise((r) => setTimeout(r, 30));
  t.equal(server.stats().partialFramesDropped, 1);
  t.equal(acc.count(), 0);
  const [ok] = await sendOnce(server.port, text);
  t.equal(seg(ok, 'MSA').value(1), 'AA');
});

t.test('a full queue answers CR in enhanced mode and AR in original mode, with the reason', async (t) => {
  const { server, acc } = await setup(t, {}, { quota: 1 });
  const [first] = await sendOnce(server.port, loadHl7('adt-a03-discharge.hl7'));
  t.equal(seg(first, 'MSA').value(1), 'AA');
  const [ar] = await sendOnce(server.port, loadHl7('adt-a08-update.hl7'));
  t.equal(seg(ar, 'MSA').value(1), 'AR');
  t.match(seg(ar, 'MSA').value(3), /quota/);
  t.ok(seg(ar, 'ERR'));
  const [cr] = await sendOnce(server.port, loadHl7('adt-a01-pk-cnic.hl7'));
  t.equal(seg(cr, 'MSA').value(1), 'CR');
  t.match(seg(cr, 'MSA').value(3), /quota/);
  t.equal(acc.count(), 1);
});

t.test('when the commit fails the sender gets AE (nothing stored) and a resend succeeds', async (t) => {
  const { server, acc } = await setup(t);
  acc.failNext(1);
  const text = loadHl7('oru-r01-lab-a.hl7');
  const [ae] = await sendOnce(server.port, text);
  t.equal(seg(ae, 'MSA').value(1), 'AE');
  t.equal(seg(ae, 'ERR').value(3, 1), '207');
  t.notMatch(ae, /disk I\/O/, 'the internal error is not echoed');
  t.equal(acc.count(), 0);
  const [aa] = await sendOnce(server.port, text);
  t.equal(seg(aa, 'MSA').value(1), 'AA');
  t.equal(acc.count(), 1);
});

t.test('an idle connection is closed after idleTimeoutMs', async (t) => {
  const { server } = await setup(t, { idleTimeoutMs: 150 });
  const c = await RawClient.connect(server.port);
  t.ok(await c.waitClosed(3000));
  t.equal(server.stats().idleTimeouts, 1);
  const [ok] = await sendOnce(server.port, loadHl7('adt-a03-discharge.hl7'));
  t.equal(seg(ok, 'MSA').value(1), 'AA');
});

t.test('many concurrent connections are all acknowledged, sharing commits', async (t) => {
  const { server, acc } = await setup(t);
  const base = loadHl7('oru-r01-lab-a.hl7');
  const conns = 40;
  const per = 10;
  const codes: string[] = [];
  await Promise.all(
    Array.from({ length: conns }, async (_, i) => {
      const c = await RawClient.connect(server.port);
      for (let j = 0; j < per; j++) {
        c.send(withControlId(base, `C${i}-${j}`));
        const acks = await c.waitFor(j + 1);
        codes.push(seg(acks[j], 'MSA').value(1));
      }
      c.end();
    }),
  );
  t.equal(codes.length, conns * per);
  t.ok(codes.every((c) => c === 'AA'));
  t.equal(acc.count(), conns * per);
  t.ok(acc.commits() < conns * per, `group commit: ${acc.commits()} transactions for ${conns * per} messages`);
});

t.test('close() stops the listener and ends connections', async (t) => {
  const { server } = await setup(t);
  const c = await RawClient.connect(server.port);
  await server.close();
  t.ok(await c.waitClosed(2000));
  await t.rejects(RawClient.connect(server.port));
});

t.test('connections beyond maxConnections are refused and counted; the ones inside keep working', async (t) => {
  const { server } = await setup(t, { maxConnections: 2 });
  const a = await RawClient.connect(server.port);
  const b = await RawClient.connect(server.port);
  const c = await RawClient.connect(server.port);
  t.teardown(() => [a, b, c].forEach((x) => x.end()));
  t.ok(await c.waitClosed(2000), 'the third is closed at once');
  t.equal(server.stats().connectionsRefused, 1);
  a.send(loadHl7('adt-a03-discharge.hl7'));
  const [ack] = await a.waitFor(1);
  t.equal(seg(ack, 'MSA').value(1), 'AA');
});
