import t from 'tap';
import { buildAck, planAcks, parseHl7, headerFallback, newControlId } from '../../src/hl7v2/index.js';
import { loadHl7 } from '../fixtures/hl7v2/load.js';

const fixed = new Date('2024-03-15T03:30:00.000Z');
const fields = (ack: string, seg: string) => ack.split('\r').find((s) => s.startsWith(seg))!.split('|');

t.test('an AA swaps sender and receiver, echoes MSH-10, trigger, processing id and version', async (t) => {
  const m = parseHl7(loadHl7('adt-a03-discharge.hl7'));
  const ack = buildAck(m, 'AA', { controlId: 'ACK-1', now: fixed });
  const msh = fields(ack, 'MSH');
  t.equal(msh[1], '^~\\&');
  t.equal(msh[2], 'DARWAZA');
  t.equal(msh[3], 'PK_TELEMED');
  t.equal(msh[4], 'SHIFA_HIS');
  t.equal(msh[5], 'SHIFA_ISB');
  t.equal(msh[6], '20240315033000+0000');
  t.equal(msh[8], 'ACK^A03^ACK');
  t.equal(msh[9], 'ACK-1');
  t.equal(msh[10], 'P');
  t.equal(msh[11], '2.5.1');
  t.equal(msh.length, 12, 'original mode: no MSH-15/16');
  const msa = fields(ack, 'MSA');
  t.same(msa.slice(0, 3), ['MSA', 'AA', 'SHIFA-000103']);
  t.notOk(ack.includes('\rERR'), 'no ERR on success');
});

t.test('an ACK is written in the sender\'s own delimiters, with header values re-escaped', async (t) => {
  const m = parseHl7(loadHl7('adt-a04-custom-delims.hl7'));
  const ack = buildAck(m, 'AR', { text: 'version 2.4 is not supported', errorCode: '203', errorLocation: 'MSH-12', now: fixed });
  const back = parseHl7(ack);
  t.equal(back.encodingChars, '@*/$');
  t.equal(back.header.messageType, 'ACK^A04');
  t.equal(back.segment('MSA')!.value(2), 'CLN/20240316/0007', 'MSA-2 echoes the decoded control id');
  t.match(ack, /MSA#AR#CLN\/E\/20240316\/E\/0007#/);
  // v2.4: ERR-1 as ELD with code&text&HL70357
  const err = back.segment('ERR')!;
  t.equal(err.value(1, 1), 'MSH');
  t.equal(err.value(1, 3), '12');
  t.equal(err.value(1, 4, 1), '203');
  t.equal(err.value(1, 4, 3), 'HL70357');
});

t.test('from v2.5 the ERR segment uses ERR-2 location, ERR-3 code, ERR-4 severity and ERR-8 message', async (t) => {
  const m = parseHl7(loadHl7('oru-r01-lab-a.hl7'));
  const ack = buildAck(m, 'AE', { text: 'PID-3 (patient identifier list) is empty', errorCode: '101', errorLocation: 'PID-3' });
  const err = parseHl7(ack).segment('ERR')!;
  t.equal(err.value(2, 1), 'PID');
  t.equal(err.value(2, 3), '3');
  t.equal(err.value(3, 1), '101');
  t.equal(err.value(3, 3), 'HL70357');
  t.equal(err.value(4), 'E');
  t.equal(err.value(8), 'PID-3 (patient identifier list) is empty');
});

t.test('an ACK for an unparseable message still has a valid header and an empty MSA-2', async (t) => {
  const ack = buildAck(headerFallback('not hl7 at all'), 'AR', { text: 'message does not start with an MSH segment', errorCode: '101' });
  const back = parseHl7(ack);
  t.equal(back.header.messageType, 'ACK');
  t.equal(back.segment('MSA')!.value(1), 'AR');
  t.equal(back.segment('MSA')!.value(2), '');
  t.ok(back.segment('ERR'));
});

t.test('original mode always answers with exactly one AA, AE or AR', async (t) => {
  const h = { acceptAckType: '', applicationAckType: '' };
  t.same(planAcks(h, { kind: 'committed' }).map((p) => p.code), ['AA']);
  t.same(planAcks(h, { kind: 'rejected', reason: 'r', errorCode: '203' }).map((p) => p.code), ['AR']);
  t.same(planAcks(h, { kind: 'error', reason: 'e', errorCode: '207' }).map((p) => p.code), ['AE']);
});

t.test('enhanced mode follows MSH-15 for the accept ACK and MSH-16 for the application ACK', async (t) => {
  const codes = (accept: string, app: string, kind: 'committed' | 'rejected' | 'error') =>
    planAcks({ acceptAckType: accept, applicationAckType: app }, kind === 'committed' ? { kind } : { kind, reason: 'x', errorCode: '207' }).map((p) => p.code);
  t.same(codes('AL', 'NE', 'committed'), ['CA']);
  t.same(codes('AL', 'AL', 'committed'), ['CA', 'AA'], 'application ACK after the accept ACK');
  t.same(codes('NE', 'AL', 'committed'), ['AA']);
  t.same(codes('SU', 'SU', 'committed'), ['CA', 'AA']);
  t.same(codes('ER', 'ER', 'committed'), [], 'errors-only modes say nothing on success');
  t.same(codes('NE', 'NE', 'committed'), []);
  t.same(codes('AL', 'AL', 'rejected'), ['CR'], 'nothing committed: no application ACK');
  t.same(codes('ER', 'NE', 'rejected'), ['CR']);
  t.same(codes('SU', 'AL', 'rejected'), []);
  t.same(codes('AL', 'NE', 'error'), ['CE']);
  t.same(codes('', 'AL', 'committed'), ['CA', 'AA'], 'empty MSH-15 in enhanced mode means AL');
});

t.test('accept ACKs in enhanced mode ask for no ACK themselves', async (t) => {
  const m = parseHl7(loadHl7('adt-a01-pk-cnic.hl7'));
  const msh = fields(buildAck(m, 'CA'), 'MSH');
  t.equal(msh[14], 'NE');
  t.equal(msh[15], 'NE');
});

t.test('ACK control ids are new, distinct and fit the 20-character MSH-10', async (t) => {
  const ids = new Set(Array.from({ length: 1000 }, () => newControlId()));
  t.equal(ids.size, 1000);
  t.ok([...ids].every((id) => id.length <= 20 && /^[A-Za-z0-9]+$/.test(id)));
});
