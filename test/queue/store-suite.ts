/**
 * One suite of queue store assertions, run against every backend (store-sqlite.test.ts,
 * store-postgres.test.ts): accept, idempotency, quota, claim order, settle, recover,
 * withdraw, retention and the operator's commands, through the port only. A backend
 * supplies open (a fresh store), reopen (the same data after a restart of this node) and
 * two raw peeks at the stored payload (to check it is ciphertext, or gone).
 */
import type { Test } from 'tap';
import { auditEvents } from '../../src/audit/index.js';
import type { AuditEvent, AuditSink, PayloadCipher } from '../../src/model/index.js';
import {
  DuplicateIdempotencyKeyError,
  QueueWriteError,
  QuotaExceededError,
  type AcceptWrite,
  type NewQueueItem,
  type QueueObserver,
  type QueueStore,
} from '../../src/queue/index.js';

export interface SuiteOptions {
  quotaBytes?: number;
  audit?: AuditSink;
  observer?: QueueObserver;
  clock?: () => number;
  cipher?: PayloadCipher;
}

export interface OpenedStore {
  store: QueueStore;
  /** Closes this store and opens another on the same data (the node restarted). */
  reopen(): Promise<QueueStore>;
  /** The stored payload bytes of a message's rows (null when gone). */
  rawPayloads(messageId: string): Promise<(Buffer | null)[]>;
  /** Flips the stored payload of a message's rows (a disk or database bit flip). */
  tamper(messageId: string): Promise<void>;
}

export type Backend = (t: Test, opts?: SuiteOptions) => Promise<OpenedStore>;

let n = 0;
export function makeItem(messageId: string, over: Partial<NewQueueItem> = {}): NewQueueItem {
  return {
    messageId,
    destination: 'nhs-pk',
    lane: 'normal',
    payload: Buffer.from(JSON.stringify({ sealed: messageId })),
    contentType: 'application/json',
    cipherScope: 'd:2026-11-26',
    patientTokens: ['tok-a'],
    context: '{"purpose":"TREAT"}',
    ...over,
  };
}

export function makeWrite(over: { id?: string; purpose?: string; items?: Partial<NewQueueItem>[]; audit?: AuditEvent[]; idem?: string } = {}): AcceptWrite {
  const id = over.id ?? `m-${process.pid}-${++n}`;
  return {
    message: {
      id,
      receivedAt: new Date(1_800_000_000_000).toISOString(),
      source: 'ehr',
      purpose: over.purpose ?? 'TREAT',
      format: 'fhir',
      outcomes: JSON.stringify([{ name: 'nhs-pk', decision: 'queued', reasons: ['permitted by rule r1'] }]),
    },
    items: (over.items ?? [{}]).map((o) => makeItem(id, o)),
    audit: over.audit ?? [auditEvents.queued({ time: new Date(), messageId: id, destination: 'nhs-pk' })],
    ...(over.idem ? { idempotency: { key: over.idem, response: JSON.stringify({ id }) } } : {}),
  };
}

/** A cipher that marks its output, so stored bytes can be told from plaintext and a flip is caught. */
export const MARKING_CIPHER: PayloadCipher = {
  encrypt: (p) => Buffer.concat([Buffer.from('E:'), Buffer.from(p)]),
  decrypt: (c) => {
    const b = Buffer.from(c);
    if (b.subarray(0, 2).toString() !== 'E:') throw new Error('PayloadTamperedError');
    return b.subarray(2);
  },
  shred: () => {},
};

export function storeSuite(t: Test, open: Backend): void {
  t.test('concurrent accepts commit, each resolves, and audit events follow', async (t) => {
    const audited: AuditEvent[] = [];
    const batches: number[] = [];
    const { store } = await open(t, { audit: { append: (e) => void audited.push(...e) }, observer: { committed: (b) => void batches.push(b) } });
    const writes = Array.from({ length: 40 }, (_, i) => makeWrite({ id: `c${i}` }));
    await Promise.all(writes.map((w) => store.accept(w)));
    t.ok(batches.length < 40, `fewer transactions (${batches.length}) than writes`);
    t.equal(batches.reduce((a, b) => a + b, 0), 40);
    t.equal(audited.filter((e) => e.event === 'queued').length, 40);
    for (const w of writes) t.equal((await store.getMessage(w.message.id))?.destinations[0]?.state, 'queued');
  });

  t.test('one bad write in a batch fails alone; a malformed one names its field', async (t) => {
    const { store } = await open(t);
    await store.accept(makeWrite({ id: 'dup' }));
    const results = await Promise.allSettled([store.accept(makeWrite({ id: 'ok1' })), store.accept(makeWrite({ id: 'dup' })), store.accept(makeWrite({ id: 'ok2' }))]);
    t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    t.type((results[1] as PromiseRejectedResult).reason, QueueWriteError);
    const bad = makeWrite();
    (bad.items[0] as { lane: string }).lane = 'fast';
    await t.rejects(store.accept(bad), { name: 'QueueWriteError', message: /items\[0\]\.lane/ });
    t.equal(await store.getMessage(bad.message.id), undefined);
  });

  t.test('idempotency keys return the first answer, also after a reopen', async (t) => {
    const o = await open(t);
    await o.store.accept(makeWrite({ id: 'first', idem: 'key-1' }));
    const err = await o.store.accept(makeWrite({ idem: 'key-1' })).catch((e: unknown) => e);
    t.type(err, DuplicateIdempotencyKeyError);
    t.equal((err as DuplicateIdempotencyKeyError).response, JSON.stringify({ id: 'first' }));
    const same = await Promise.allSettled([o.store.accept(makeWrite({ id: 'x1', idem: 'key-2' })), o.store.accept(makeWrite({ id: 'x2', idem: 'key-2' }))]);
    t.same(same.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'two at once with one key: one wins');
    const again = await o.reopen();
    t.equal((await again.findIdempotent('key-1'))?.response, JSON.stringify({ id: 'first' }));
    t.equal(await again.findIdempotent('nope'), undefined);
  });

  t.test('at quota accept rejects with QuotaExceededError; delivering frees room', async (t) => {
    const { store } = await open(t, { quotaBytes: 1_000 });
    const big = () => makeWrite({ items: [{ payload: Buffer.alloc(400, 1) }] });
    const results = await Promise.allSettled([store.accept(big()), store.accept(big()), store.accept(big())]);
    t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
    t.type((results[2] as PromiseRejectedResult).reason, QuotaExceededError);
    t.equal(store.heldPayloadBytes(), 800);
    t.notOk(store.atQuota());
    const claimed = await store.claim('nhs-pk', 10);
    t.equal(claimed.length, 2);
    await store.settle(claimed.map((c) => ({ kind: 'delivered' as const, id: c.id, status: 200 })));
    t.equal(store.heldPayloadBytes(), 0);
    await t.resolves(store.accept(big()));
  });

  t.test('claims go emergency first, then by lane and enqueue order, per destination; payloads stored encrypted', async (t) => {
    const o = await open(t, { cipher: MARKING_CIPHER });
    const { store } = o;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const w = makeWrite({ id: `n${i}`, items: [{ lane: i === 3 || i === 5 ? 'emergency' : 'normal' }, { destination: 'other' }] });
      ids.push(w.message.id);
      await store.accept(w);
    }
    t.ok((await o.rawPayloads('n0')).every((p) => p?.subarray(0, 2).toString() === 'E:'), 'ciphertext at rest');
    const first = await store.claim('nhs-pk', 3);
    t.same(first.map((c) => c.messageId), ['n3', 'n5', 'n0'], 'emergency rows first, each lane in enqueue order');
    t.same(first.map((c) => c.lane), ['emergency', 'emergency', 'normal']);
    t.equal(Buffer.from(first[2]!.payload).toString(), JSON.stringify({ sealed: 'n0' }), 'decrypted');
    t.same((await store.claim('nhs-pk', 10)).map((c) => c.messageId), ['n1', 'n2', 'n4']);
    t.same(await store.claim('nhs-pk', 10), [], 'in-flight rows are not claimed twice');
    t.same((await store.claim('other', 10)).map((c) => c.messageId), ids, 'another destination has its own order');
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x5c, 0x27]);
    await store.accept(makeWrite({ id: 'binary', items: [{ destination: 'bin', payload: bytes }] }));
    t.same(Buffer.from((await store.claim('bin', 1))[0]!.payload), bytes, 'payloads are bytes, not text');
  });

  t.test('settlements: delivered, retry, dead, withdrawn, release; attempts, held bytes, audit', async (t) => {
    let now = 1_900_000_000_000;
    const audited: AuditEvent[] = [];
    const delivered: string[] = [];
    const { store } = await open(t, { clock: () => now, audit: { append: (e) => void audited.push(...e) }, observer: { delivered: (d) => void delivered.push(d) } });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await store.accept(makeWrite({ id }));
    audited.length = 0;
    const held = store.heldPayloadBytes();
    const [a, b, c, d, e] = await store.claim('nhs-pk', 5);
    await store.settle([
      { kind: 'delivered', id: a!.id, status: 202 },
      { kind: 'retry', id: b!.id, nextAttemptAt: now + 5_000, error: 'HTTP 503', status: 503 },
      { kind: 'dead', id: c!.id, reason: 'HTTP 400 (permanent)', status: 400 },
      { kind: 'withdrawn', id: d!.id, reason: 'consent withdrawn' },
      { kind: 'release', id: e!.id },
    ]);
    const state = async (id: string) => (await store.getMessage(id))!.destinations[0]!;
    t.match(await state('a'), { state: 'delivered', attempts: 1, lastStatus: 202 });
    t.match(await state('b'), { state: 'retrying', attempts: 1, lastError: 'HTTP 503', nextAttemptAt: new Date(now + 5_000).toISOString() });
    t.match(await state('c'), { state: 'dead', attempts: 1 });
    t.match(await state('d'), { state: 'withdrawn' });
    t.match(await state('e'), { state: 'queued', attempts: 0 }, 'released without counting an attempt');
    t.same(audited.map((x) => [x.event, x.messageId]), [['delivered', 'a'], ['dead-lettered', 'c'], ['consent-withdrawn', 'd']]);
    t.same(delivered, ['nhs-pk']);
    const one = held / 5;
    t.equal(store.heldPayloadBytes(), held - 2 * one, 'delivered and withdrawn payloads are no longer held');
    t.same((await store.claim('nhs-pk', 10)).map((x) => x.messageId), ['e'], 'the retrying row waits for its time');
    now += 5_000;
    const again = await store.claim('nhs-pk', 10);
    t.same(again.map((x) => [x.messageId, x.attempt]), [['b', 2]], 'then comes back as its second attempt');
    const counts = Object.fromEntries((await store.counts()).map((r) => [r.state, r.count]));
    t.same(counts, { delivered: 1, delivering: 2, dead: 1, withdrawn: 1 });
    t.equal(await store.wake!('nhs-pk'), 0);
    t.same((await store.oldestWaiting!()).map((x) => x.destination), ['nhs-pk']);
  });

  t.test('a payload that fails authentication is dead-lettered at claim, not thrown', async (t) => {
    const audited: AuditEvent[] = [];
    const o = await open(t, { cipher: MARKING_CIPHER, audit: { append: (e) => void audited.push(...e) } });
    for (const id of ['good1', 'bad', 'good2']) await o.store.accept(makeWrite({ id }));
    await o.tamper('bad');
    t.same((await o.store.claim('nhs-pk', 10)).map((c) => c.messageId), ['good1', 'good2']);
    t.match((await o.store.getMessage('bad'))!.destinations[0], { state: 'dead', lastError: 'payload failed authentication' });
    t.match(audited.at(-1), { event: 'dead-lettered', messageId: 'bad' });
  });

  t.test('recoverInFlight after a restart makes rows left in flight ready again', async (t) => {
    const o = await open(t);
    await o.store.accept(makeWrite({ id: 'x' }));
    await o.store.accept(makeWrite({ id: 'y' }));
    t.equal((await o.store.claim('nhs-pk', 5)).length, 2);
    const again = await o.reopen();
    t.same(await again.claim('nhs-pk', 5), [], 'still in flight before recovery');
    t.equal(await again.recoverInFlight(), 2);
    t.same((await again.claim('nhs-pk', 5)).map((c) => c.messageId), ['x', 'y']);
  });

  t.test('withdrawForPatient: queued and dead rows of that patient and purpose, payloads gone, audited; other consents respected', async (t) => {
    const audited: AuditEvent[] = [];
    const o = await open(t, { audit: { append: (e) => void audited.push(...e) } });
    const { store } = o;
    await store.accept(makeWrite({ id: 'p1', items: [{ patientTokens: ['tok-a'] }, { destination: 'reg', patientTokens: ['tok-a'] }] }));
    await store.accept(makeWrite({ id: 'p2', purpose: 'HRESCH', items: [{ patientTokens: ['tok-a'], context: '{"purpose":"HRESCH"}' }] }));
    await store.accept(makeWrite({ id: 'p3', items: [{ patientTokens: ['tok-b'] }] }));
    audited.length = 0;
    t.equal(await store.withdrawForPatient(['tok-a'], 'TREAT', 'consent c1 withdrawn'), 2);
    t.same((await store.getMessage('p1'))!.destinations.map((d) => d.state), ['withdrawn', 'withdrawn']);
    t.same(await o.rawPayloads('p1'), [null, null], 'the payloads are gone from the database');
    t.equal((await store.getMessage('p2'))!.destinations[0]!.state, 'queued', 'another purpose is untouched');
    t.equal((await store.getMessage('p3'))!.destinations[0]!.state, 'queued', 'another patient is untouched');
    t.same(audited.map((e) => [e.event, e.messageId, e.patientToken]), [['consent-withdrawn', 'p1', 'tok-a'], ['consent-withdrawn', 'p1', 'tok-a']]);
    t.equal(await store.withdrawForPatient(['tok-a'], undefined, 'all', (item) => JSON.parse(item.context).purpose === 'HRESCH'), 0, 'still permitted');
    t.equal(await store.withdrawForPatient(['tok-a'], undefined, 'all', () => {
      throw new Error('registry down');
    }), 1, 'a check that throws withdraws (fail closed)');
    t.same((await store.claim('nhs-pk', 10)).map((c) => c.messageId), ['p3']);
  });

  t.test('operator: list, inspect, retry and purge dead letters, audited', async (t) => {
    const audited: AuditEvent[] = [];
    const { store } = await open(t, { audit: { append: (e) => void audited.push(...e) } });
    for (const id of ['d1', 'd2', 'd3']) await store.accept(makeWrite({ id }));
    for (const c of await store.claim('nhs-pk', 3)) await store.settle([{ kind: 'dead', id: c.id, reason: 'HTTP 400 (permanent)', status: 400 }]);
    const dead = await store.list({ state: 'dead' });
    t.same(dead.map((r) => r.messageId), ['d1', 'd2', 'd3']);
    t.notOk('payload' in dead[0]!);
    t.same((await store.list({ state: 'dead', newestFirst: true, limit: 2 })).map((r) => r.messageId), ['d3', 'd2']);
    t.same((await store.list({ messageId: 'd2' })).map((r) => r.messageId), ['d2']);
    t.same((await store.list({ source: 'ehr', afterId: dead[1]!.id })).map((r) => r.messageId), ['d3']);
    t.equal((await store.inspect('d1'))?.destinations[0]?.state, 'dead');
    t.equal(await store.retryDead({ messageIds: ['d2'] }), 1);
    t.match((await store.getMessage('d2'))!.destinations[0], { state: 'queued', attempts: 0 });
    t.same((await store.claim('nhs-pk', 5)).map((c) => c.messageId), ['d2']);
    const held = store.heldPayloadBytes();
    const progress: number[] = [];
    t.equal(await store.purge({ state: 'dead', onProgress: (d) => void progress.push(d) }), 2);
    t.same(progress, [2]);
    t.equal((await store.getMessage('d1'))!.destinations[0]!.state, 'purged');
    t.ok(store.heldPayloadBytes() < held);
    t.equal(await store.retryDead({}), 0, 'purged rows cannot come back');
    t.same(audited.filter((e) => e.event === 'purged').map((e) => e.messageId), ['d1', 'd3']);
    t.ok(audited.some((e) => e.event === 'admin-action' && e.messageId === 'd2'));
  });

  t.test('retention deletes old finished rows and messages, shreds unused scopes, expires old dead letters', async (t) => {
    let now = 1_800_000_000_000;
    const shredded: string[] = [];
    const cipher: PayloadCipher = { encrypt: (p) => p, decrypt: (c) => c, shred: (s) => void shredded.push(s) };
    const { store } = await open(t, { clock: () => now, cipher });
    await store.accept(makeWrite({ id: 'old', items: [{ cipherScope: 'd:old' }] }));
    await store.accept(makeWrite({ id: 'stuck', items: [{ cipherScope: 'd:stuck' }] }));
    await store.accept(makeWrite({ id: 'denied-only', items: [] }));
    const [old, stuck] = await store.claim('nhs-pk', 2);
    await store.settle([{ kind: 'delivered', id: old!.id, status: 200 }, { kind: 'dead', id: stuck!.id, reason: 'HTTP 400' }]);
    now += 1_000;
    t.same(await store.purgeDelivered(60_000), { items: 0, messages: 0, scopes: 0 }, 'nothing is old enough yet');
    now += 3_600_000;
    t.same(await store.purgeDelivered(60_000), { items: 1, messages: 2, scopes: 1 });
    t.equal(await store.getMessage('old'), undefined);
    t.equal(await store.getMessage('denied-only'), undefined);
    t.equal((await store.getMessage('stuck'))!.destinations[0]!.state, 'dead', 'dead letters are kept for the operator');
    t.same(shredded, ['d:old'], 'a scope still holding a payload is not shredded');
    t.equal(await store.expireDead!(60_000), 1);
    t.equal((await store.getMessage('stuck'))!.destinations[0]!.state, 'purged');
    t.equal(store.heldPayloadBytes(), 0);
  });
}
