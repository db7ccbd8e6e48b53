import t from 'tap';
import { handleFrame, handleOversize, startMllpServer, type MllpAccept, type MllpAcceptInput, type MllpAcceptResult } from '../../../src/ingress/mllp/index.js';
import { parseHl7 } from '../../../src/hl7v2/index.js';
import { conflict, quotaExceeded, DuplicateIdempotencyKeyError, QuotaExceededError, type Outcome } from '../../../src/fhir/index.js';
import { loadHl7, withMshField } from '../../fixtures/hl7v2/load.js';
import { RawClient } from '../../fixtures/hl7v2/mllp-client.js';

const msa = (ack: string) => parseHl7(ack).segment('MSA')!;
const bytes = (s: string) => Buffer.from(s, 'utf8');

t.test('the pipeline gets the text, the mapped Bundle, the source, the idempotency key and the type', async (t) => {
  let seen: MllpAcceptInput | undefined;
  const accept: MllpAccept = async (input) => {
    seen = input;
    return { kind: 'accepted', messageId: 'm-1', storedAck: input.ackFor('m-1') };
  };
  const text = loadHl7('adt-a01-pk-cnic.hl7');
  const r = await handleFrame(bytes(text), null, { accept });
  t.equal(seen!.text, text);
  t.equal(seen!.idempotencyKey, 'hl7v2|SHIFA_HIS|SHIFA_ISB|SHIFA-000101');
  t.equal(seen!.source, 'SHIFA_HIS|SHIFA_ISB');
  t.equal(seen!.messageType, 'ADT^A01');
  t.equal(seen!.fhir!.resourceType, 'Bundle');
  t.same(r.codes, ['CA']);
  t.match(msa(r.acks[0]).value(3), /m-1/, 'the message id is in MSA-3 for tracing');
  const viaTls = await handleFrame(bytes(text), 'his.shifa.local', { accept });
  t.equal(seen!.source, 'his.shifa.local', 'a TLS client CN wins over MSH-3/4');
  t.equal(viaTls.result, 'accepted');
});

t.test('a stored response that is not ACK text (the HTTP layer\'s JSON) is replayed as an ACK for that id', async (t) => {
  const accept: MllpAccept = async () => ({ kind: 'duplicate', storedResponse: '{"id":"m-77","destinations":[]}' });
  const r = await handleFrame(bytes(loadHl7('adt-a03-discharge.hl7')), null, { accept });
  t.equal(r.result, 'duplicate');
  t.equal(msa(r.acks[0]).value(1), 'AA');
  t.match(msa(r.acks[0]).value(3), /m-77/);
});

t.test('pipeline rejections map to AR/AE in original mode and CR/CE in enhanced mode', async (t) => {
  const reject = (outcome: Outcome): MllpAccept => async () => ({ kind: 'rejected', outcome });
  const original = bytes(loadHl7('adt-a03-discharge.hl7'));
  const enhanced = bytes(withMshField(loadHl7('adt-a03-discharge.hl7'), 15, 'AL'));
  const full = quotaExceeded(30, 'no room');
  const bad = conflict('clashes with a held message');
  t.equal(msa((await handleFrame(original, null, { accept: reject(full) })).acks[0]).value(1), 'AR');
  t.equal(msa((await handleFrame(original, null, { accept: reject(bad) })).acks[0]).value(1), 'AE');
  t.equal(msa((await handleFrame(enhanced, null, { accept: reject(full) })).acks[0]).value(1), 'CR');
  t.equal(msa((await handleFrame(enhanced, null, { accept: reject(bad) })).acks[0]).value(1), 'CE');
  t.equal(msa((await handleFrame(enhanced, null, { accept: reject(full) })).acks[0]).value(3), 'no room');
});

t.test('a refusal thrown by the pipeline answers like a returned one; a duplicate key replays the first answer', async (t) => {
  const original = bytes(loadHl7('adt-a03-discharge.hl7'));
  const thrown = await handleFrame(original, null, { accept: async () => { throw new QuotaExceededError('the queue is at its disk quota'); } });
  t.equal(thrown.result, 'rejected');
  t.equal(msa(thrown.acks[0]).value(1), 'AR');
  t.match(msa(thrown.acks[0]).value(3), /disk quota/);
  const dup = await handleFrame(original, null, { accept: async () => { throw new DuplicateIdempotencyKeyError('{"id":"m-9"}'); } });
  t.equal(dup.result, 'duplicate');
  t.equal(msa(dup.acks[0]).value(1), 'AA');
  t.match(msa(dup.acks[0]).value(3), /m-9/);
  const bug = await handleFrame(original, null, { accept: async () => { throw new TypeError('patient Ali Khan'); } });
  t.equal(bug.result, 'failed');
  t.equal(msa(bug.acks[0]).value(1), 'AE');
  t.notMatch(bug.acks[0], /Ali Khan/, 'an unknown error\'s text never reaches the sender');
});

t.test('enhanced mode NE/NE stores the message and sends nothing, also on a retransmit', async (t) => {
  let stored: string | undefined;
  const accept: MllpAccept = async (input): Promise<MllpAcceptResult> => {
    if (stored !== undefined) return { kind: 'duplicate', storedResponse: stored };
    stored = input.ackFor('m-2');
    return { kind: 'accepted', messageId: 'm-2', storedAck: stored };
  };
  const text = bytes(withMshField(withMshField(loadHl7('adt-a03-discharge.hl7'), 15, 'NE'), 16, 'NE'));
  t.same((await handleFrame(text, null, { accept })).acks, []);
  t.same((await handleFrame(text, null, { accept })).acks, []);
});

t.test('supportedVersions narrows what is accepted', async (t) => {
  const accept: MllpAccept = async (i) => ({ kind: 'accepted', messageId: 'x', storedAck: i.ackFor('x') });
  const r = await handleFrame(bytes(loadHl7('adt-a04-custom-delims.hl7')), null, { accept, supportedVersions: ['2.5.1'] });
  t.equal(r.result, 'rejected');
  t.equal(parseHl7(r.acks[0]).segment('MSA')!.value(1), 'AR');
});

t.test('an oversize frame in enhanced mode gets CR echoing MSH-10', async (t) => {
  const head = bytes(withMshField(loadHl7('adt-a03-discharge.hl7'), 15, 'AL')).subarray(0, 4096);
  const r = handleOversize(head, 1024);
  t.same(r.codes, ['CR']);
  t.equal(msa(r.acks[0]).value(2), 'SHIFA-000103');
});

t.test('over a socket, no ACK leaves before the pipeline\'s commit resolves', async (t) => {
  let release!: () => void;
  const committed = new Promise<void>((r) => (release = r));
  let commitDone = false;
  const accept: MllpAccept = async (input) => {
    await committed;
    commitDone = true;
    return { kind: 'accepted', messageId: 'slow', storedAck: input.ackFor('slow') };
  };
  const server = await startMllpServer({ host: '127.0.0.1', port: 0, accept, maxFrameBytes: 1 << 20, idleTimeoutMs: 10_000 });
  t.teardown(() => server.close());
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.end());
  c.send(loadHl7('adt-a03-discharge.hl7'));
  await c.waitFor(1, 300);
  t.equal(c.acks.length, 0, 'nothing while the commit is pending (and the idle timer does not fire)');
  release();
  const [ack] = await c.waitFor(1);
  t.ok(commitDone);
  t.equal(msa(ack).value(1), 'AA');
});

t.test('if handling throws unexpectedly the sender still gets AE, and the connection carries on', async (t) => {
  let calls = 0;
  const server = await startMllpServer({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 1 << 20,
    idleTimeoutMs: 10_000,
    accept: async (i) => ({ kind: 'accepted', messageId: 'x', storedAck: i.ackFor('x') }),
    // a route lookup that blows up stands in for any bug on the path
    isOpaqueRouted: () => {
      if (calls++ === 0) throw new Error('boom');
      return true;
    },
  });
  t.teardown(() => server.close());
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.end());
  c.send(loadHl7('dft-p03.hl7'));
  const [ae] = await c.waitFor(1);
  t.equal(msa(ae).value(1), 'AE');
  t.equal(msa(ae).value(2), 'DFT-0001');
  t.notMatch(ae, /boom/);
  c.send(loadHl7('dft-p03.hl7'));
  const acks = await c.waitFor(2);
  t.equal(msa(acks[1]).value(1), 'AA');
  t.equal(server.stats().failed, 1);
});
