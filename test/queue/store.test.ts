import t, { type Test } from 'tap';
import { join } from 'node:path';
import type { AuditEvent, PayloadCipher } from '../../src/model/index.js';
import { openDatabase, type Db } from '../../src/store/index.js';
import { auditEvents } from '../../src/audit/index.js';
import {
  SqliteQueueStore,
  QuotaExceededError,
  QueueWriteError,
  DuplicateIdempotencyKeyError,
  type AcceptWrite,
  type NewQueueItem,
  type QueueStoreOptions,
  newMessageId,
} from '../../src/queue/index.js';

let n = 0;
function makeItem(messageId: string, over: Partial<NewQueueItem> = {}): NewQueueItem {
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
function makeWrite(over: { id?: string; purpose?: string; items?: Partial<NewQueueItem>[]; audit?: AuditEvent[]; idem?: string } = {}): AcceptWrite {
  const id = over.id ?? `m-${++n}`;
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

function openStore(t: Test, opts: Partial<QueueStoreOptions> = {}, file?: string): { db: Db; store: SqliteQueueStore; file: string } {
  const f = file ?? join(t.testdir(), 'darwaza.db');
  const db = openDatabase(f);
  const store = SqliteQueueStore.open(db, { quotaBytes: 10_000_000, minFreeDiskBytes: 0, ...opts });
  t.teardown(async () => {
    await store.close();
    if (db.open) db.close();
  });
  return { db, store, file: f };
}

t.test('many concurrent accepts share fewer transactions, and each resolves only after its commit', async (t) => {
  const batches: number[] = [];
  const audited: AuditEvent[] = [];
  const { store, db } = openStore(t, {
    observer: { committed: (size) => batches.push(size) },
    audit: { append: (evs) => void audited.push(...evs) },
  });
  const writes = Array.from({ length: 200 }, () => makeWrite());
  const reader = openDatabase(db.name, { readonly: true });
  t.teardown(() => reader.close());
  const seenCommitted: boolean[] = [];
  await Promise.all(
    writes.map((w) =>
      store.accept(w).then(() => {
        // A second connection sees the row the moment the promise resolves: it was committed.
        seenCommitted.push(Boolean(reader.prepare('SELECT 1 FROM queue_messages WHERE id = ?').get(w.message.id)));
      }),
    ),
  );
  t.equal(seenCommitted.length, 200);
  t.ok(seenCommitted.every(Boolean), 'every resolved accept is visible to another connection');
  t.equal(batches.reduce((a, b) => a + b, 0), 200, 'every accept was in some batch');
  t.ok(batches.length < 200 && Math.max(...batches) > 1, `batched: ${batches.length} commits, largest ${Math.max(...batches)}`);
  t.equal(audited.length, 200, 'the audit events passed in were appended with their messages');
});

t.test('maxBatch flushes a group commit at once', async (t) => {
  const batches: number[] = [];
  const { store } = openStore(t, { maxBatch: 10, observer: { committed: (size) => batches.push(size) } });
  await Promise.all(Array.from({ length: 25 }, () => store.accept(makeWrite())));
  t.same(batches, [10, 10, 5]);
});

t.test('one bad write in a batch fails alone; the others commit', async (t) => {
  const { store } = openStore(t);
  const dup = makeWrite({ id: 'same' });
  const results = await Promise.allSettled([store.accept(makeWrite()), store.accept(dup), store.accept(makeWrite({ id: 'same' }))]);
  t.equal(results[0].status, 'fulfilled');
  t.equal(results[1].status, 'fulfilled');
  t.equal(results[2].status, 'rejected');
  t.type((results[2] as PromiseRejectedResult).reason, QueueWriteError);
  t.match((results[2] as PromiseRejectedResult).reason.message, /already queued/);
  t.ok(await store.getMessage('same'));
});

t.test('a malformed write is refused naming the field, before anything is written', async (t) => {
  const { store } = openStore(t);
  const w = makeWrite();
  (w.items[0] as { lane: string }).lane = 'urgent';
  await t.rejects(store.accept(w), { name: 'QueueWriteError', message: /items\[0\]\.lane/ });
  const w2 = makeWrite();
  (w2.items[0] as { payload: unknown }).payload = 'text';
  await t.rejects(store.accept(w2), { message: /items\[0\]\.payload must be bytes/ });
  t.equal(await store.getMessage(w.message.id), undefined);
});

t.test('an accepted row survives closing and reopening the file', async (t) => {
  const { store, db, file } = openStore(t);
  const w = makeWrite({ items: [{ payload: Buffer.from('{"kept":true}') }] });
  await store.accept(w);
  await store.close();
  db.close();
  const { store: again } = openStore(t, {}, file);
  const claimed = await again.claim('nhs-pk', 10);
  t.equal(claimed.length, 1);
  t.equal(Buffer.from(claimed[0]!.payload).toString(), '{"kept":true}');
  t.equal((await again.getMessage(w.message.id))?.destinations[0]?.state, 'delivering');
});

t.test('claims go emergency lane first, then FIFO by enqueue order, per destination', async (t) => {
  const { store } = openStore(t);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const w = makeWrite({ id: `n${i}`, items: [{ lane: i === 3 || i === 5 ? 'emergency' : 'normal' }, { destination: 'other' }] });
    ids.push(w.message.id);
    await store.accept(w);
  }
  const first = (await store.claim('nhs-pk', 3)).map((c) => c.messageId);
  t.same(first, ['n3', 'n5', 'n0'], 'emergency rows first, each lane in enqueue order');
  t.same((await store.claim('nhs-pk', 10)).map((c) => c.messageId), ['n1', 'n2', 'n4']);
  t.same(await store.claim('nhs-pk', 10), [], 'in-flight rows are not claimed twice');
  t.same((await store.claim('other', 10)).map((c) => c.messageId), ids, 'another destination has its own FIFO');
});

t.test('settlements change state, count attempts, free held bytes and append audit events', async (t) => {
  const audited: AuditEvent[] = [];
  const delivered: string[] = [];
  const { store } = openStore(t, { audit: { append: (e) => void audited.push(...e) }, observer: { delivered: (d) => void delivered.push(d) } });
  await store.accept(makeWrite({ id: 'a' }));
  await store.accept(makeWrite({ id: 'b' }));
  await store.accept(makeWrite({ id: 'c' }));
  audited.length = 0;
  const held = store.heldPayloadBytes();
  t.ok(held > 0);
  const [a, b, c] = await store.claim('nhs-pk', 3);
  const later = Date.now() + 60_000;
  await store.settle([
    { kind: 'delivered', id: a!.id, status: 202 },
    { kind: 'retry', id: b!.id, nextAttemptAt: later, error: 'HTTP 503', status: 503 },
    { kind: 'dead', id: c!.id, reason: 'HTTP 400 (permanent)', status: 400 },
  ]);
  t.equal((await store.getMessage('a'))!.destinations[0]!.state, 'delivered');
  t.equal((await store.getMessage('a'))!.destinations[0]!.attempts, 1);
  const rb = (await store.getMessage('b'))!.destinations[0]!;
  t.equal(rb.state, 'retrying');
  t.equal(rb.lastError, 'HTTP 503');
  t.equal(rb.nextAttemptAt, new Date(later).toISOString());
  t.equal((await store.getMessage('c'))!.destinations[0]!.state, 'dead');
  t.same(await store.claim('nhs-pk', 10), [], 'a retrying row is not claimed before its time');
  t.same(
    audited.map((e) => [e.event, e.messageId, e.destination]),
    [
      ['delivered', 'a', 'nhs-pk'],
      ['dead-lettered', 'c', 'nhs-pk'],
    ],
  );
  t.same(delivered, ['nhs-pk']);
  t.ok(store.heldPayloadBytes() < held, 'the delivered payload is no longer held');
  const counts = Object.fromEntries((await store.counts()).map((r) => [r.state, r.count]));
  t.same(counts, { delivered: 1, retrying: 1, dead: 1 });
});

t.test('a retrying row becomes claimable when its time comes', async (t) => {
  let now = 1_000_000;
  const { store } = openStore(t, { clock: () => now });
  await store.accept(makeWrite({ id: 'r' }));
  const [r] = await store.claim('nhs-pk', 1);
  await store.markRetry(r!.id, now + 5_000, 'HTTP 503');
  now += 4_999;
  t.same(await store.claim('nhs-pk', 1), []);
  now += 1;
  const again = await store.claim('nhs-pk', 1);
  t.equal(again[0]?.messageId, 'r');
  t.equal(again[0]?.attempt, 2, 'the second attempt');
});

t.test('recoverInFlight makes rows left in flight by a crash ready again', async (t) => {
  const { store, db, file } = openStore(t);
  await store.accept(makeWrite({ id: 'x' }));
  await store.accept(makeWrite({ id: 'y' }));
  t.equal((await store.claim('nhs-pk', 5)).length, 2);
  await store.close();
  db.close();
  const { store: again } = openStore(t, {}, file);
  t.same(await again.claim('nhs-pk', 5), [], 'still in flight before recovery');
  t.equal(await again.recoverInFlight(), 2);
  t.same((await again.claim('nhs-pk', 5)).map((c) => c.messageId), ['x', 'y']);
});

t.test('at quota accept rejects with QuotaExceededError and earlier rows stay intact', async (t) => {
  const { store } = openStore(t, { quotaBytes: 1_000 });
  const big = () => makeWrite({ items: [{ payload: Buffer.alloc(400, 1) }] });
  const w1 = big();
  const w2 = big();
  await store.accept(w1);
  await store.accept(w2);
  t.notOk(store.atQuota());
  const err = await store.accept(big()).catch((e: unknown) => e);
  t.type(err, QuotaExceededError);
  t.ok((err as QuotaExceededError).retryAfterSeconds > 0);
  t.equal((await store.claim('nhs-pk', 10)).length, 2, 'the accepted rows are intact');
  t.ok(await store.getMessage(w1.message.id) && await store.getMessage(w2.message.id));
  // Delivering frees room again.
  const ids = (await store.list({ state: 'delivering' })).map((r) => r.id);
  await store.markDelivered(ids, { status: 200 });
  await t.resolves(store.accept(big()));
});

t.test('accepts waiting for the same group commit count against the quota too', async (t) => {
  const { store } = openStore(t, { quotaBytes: 1_000 });
  const big = () => makeWrite({ items: [{ payload: Buffer.alloc(400, 1) }] });
  const results = await Promise.allSettled([store.accept(big()), store.accept(big()), store.accept(big())]);
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
  t.equal(store.heldPayloadBytes(), 800);
});

t.test('a nearly full disk is a quota too', async (t) => {
  let free = 10_000_000_000;
  const { store } = openStore(t, { minFreeDiskBytes: 1_000_000, diskCheckMs: 0, freeDiskBytes: () => free });
  await store.accept(makeWrite());
  free = 10_000;
  t.ok(store.atQuota());
  await t.rejects(store.accept(makeWrite()), QuotaExceededError);
});

t.test('idempotency keys return the first answer, also across a reopen', async (t) => {
  const { store, db, file } = openStore(t);
  await store.accept(makeWrite({ id: 'first', idem: 'key-1' }));
  t.equal((await store.findIdempotent('key-1'))?.response, JSON.stringify({ id: 'first' }));
  const err = await store.accept(makeWrite({ idem: 'key-1' })).catch((e: unknown) => e);
  t.type(err, DuplicateIdempotencyKeyError);
  t.equal((err as DuplicateIdempotencyKeyError).response, JSON.stringify({ id: 'first' }));
  await store.close();
  db.close();
  const { store: again } = openStore(t, {}, file);
  t.equal((await again.findIdempotent('key-1'))?.response, JSON.stringify({ id: 'first' }));
  t.equal(await again.findIdempotent('nope'), undefined);
});

t.test('withdrawForPatient removes queued and dead payloads for that patient and purpose, audited', async (t) => {
  const audited: AuditEvent[] = [];
  const { store, db } = openStore(t, { audit: { append: (e) => void audited.push(...e) } });
  await store.accept(makeWrite({ id: 'p1', items: [{ patientTokens: ['tok-a'] }, { destination: 'reg', patientTokens: ['tok-a'] }] }));
  await store.accept(makeWrite({ id: 'p2', purpose: 'HRESCH', items: [{ patientTokens: ['tok-a'] }] }));
  await store.accept(makeWrite({ id: 'p3', items: [{ patientTokens: ['tok-b'] }] }));
  audited.length = 0;
  t.equal(await store.withdrawForPatient(['tok-a'], 'TREAT', 'consent c1 withdrawn'), 2);
  const p1 = (await store.getMessage('p1'))!;
  t.same(p1.destinations.map((d) => d.state), ['withdrawn', 'withdrawn']);
  t.equal((await store.getMessage('p2'))!.destinations[0]!.state, 'queued', 'another purpose is untouched');
  t.equal((await store.getMessage('p3'))!.destinations[0]!.state, 'queued', 'another patient is untouched');
  const payloads = db.prepare("SELECT payload FROM queue_items WHERE message_id = 'p1'").all() as { payload: unknown }[];
  t.ok(payloads.every((r) => r.payload === null), 'the payloads are gone from the file');
  t.same(
    audited.map((e) => [e.event, e.messageId, e.patientToken, e.reason]),
    [
      ['consent-withdrawn', 'p1', 'tok-a', 'consent c1 withdrawn'],
      ['consent-withdrawn', 'p1', 'tok-a', 'consent c1 withdrawn'],
    ],
  );
  t.equal(await store.withdrawForPatient(['tok-a']), 1, 'without a purpose every purpose is withdrawn');
  t.same((await store.claim('nhs-pk', 10)).map((c) => c.messageId), ['p3']);
});

t.test('withdrawForPatient keeps rows another consent still permits, and withdraws when that check fails', async (t) => {
  const { store } = openStore(t);
  await store.accept(makeWrite({ id: 'treat', items: [{ context: '{"purpose":"TREAT"}' }] }));
  await store.accept(makeWrite({ id: 'research', items: [{ context: '{"purpose":"HRESCH"}' }] }));
  await store.accept(makeWrite({ id: 'unsure', items: [{ context: 'broken' }] }));
  const n = await store.withdrawForPatient(['tok-a'], undefined, 'research consent withdrawn', (item) => {
    const ctx = JSON.parse(item.context) as { purpose: string };
    return ctx.purpose === 'TREAT';
  });
  t.equal(n, 2);
  t.equal((await store.getMessage('treat'))!.destinations[0]!.state, 'queued', 'still permitted by another consent');
  t.equal((await store.getMessage('research'))!.destinations[0]!.state, 'withdrawn');
  t.equal((await store.getMessage('unsure'))!.destinations[0]!.state, 'withdrawn', 'a check that throws withdraws (fail closed)');
});

t.test('a payload that fails authentication is dead-lettered at claim, not thrown', async (t) => {
  const audited: AuditEvent[] = [];
  const cipher: PayloadCipher = {
    encrypt: (p) => Buffer.concat([Buffer.from('E:'), Buffer.from(p)]),
    decrypt: (c) => {
      const b = Buffer.from(c);
      if (b.subarray(0, 2).toString() !== 'E:') throw new Error('PayloadTamperedError');
      return b.subarray(2);
    },
    shred: () => {},
  };
  const { store, db } = openStore(t, { cipher, audit: { append: (e) => void audited.push(...e) } });
  await store.accept(makeWrite({ id: 'good1' }));
  await store.accept(makeWrite({ id: 'bad' }));
  await store.accept(makeWrite({ id: 'good2' }));
  const raw = db.prepare("SELECT payload FROM queue_items WHERE message_id = 'good1'").get() as { payload: Buffer };
  t.equal(raw.payload.subarray(0, 2).toString(), 'E:', 'stored encrypted');
  db.prepare("UPDATE queue_items SET payload = CAST(X'00' || payload AS BLOB) WHERE message_id = 'bad'").run();
  const claimed = await store.claim('nhs-pk', 10);
  t.same(claimed.map((c) => c.messageId), ['good1', 'good2']);
  t.equal(Buffer.from(claimed[0]!.payload).toString(), JSON.stringify({ sealed: 'good1' }), 'decrypted');
  const bad = (await store.getMessage('bad'))!.destinations[0]!;
  t.equal(bad.state, 'dead');
  t.equal(bad.lastError, 'payload failed authentication');
  t.match(audited.at(-1), { event: 'dead-lettered', messageId: 'bad', reason: 'payload failed authentication' });
});

t.test('dead letters can be retried and purged; the CLI views carry no payloads', async (t) => {
  const audited: AuditEvent[] = [];
  const { store } = openStore(t, { audit: { append: (e) => void audited.push(...e) } });
  for (const id of ['d1', 'd2', 'd3']) await store.accept(makeWrite({ id }));
  for (const c of await store.claim('nhs-pk', 3)) await store.markDead(c.id, 'HTTP 400 (permanent)', 400);
  t.equal((await store.list({ state: 'dead' })).length, 3);
  t.notOk('payload' in (await store.list({ state: 'dead' }))[0]!);
  t.equal(await store.retryDead({ messageIds: ['d2'] }), 1);
  t.equal((await store.getMessage('d2'))!.destinations[0]!.state, 'queued');
  t.equal((await store.getMessage('d2'))!.destinations[0]!.attempts, 0);
  t.same((await store.claim('nhs-pk', 5)).map((c) => c.messageId), ['d2']);
  const held = store.heldPayloadBytes();
  const progress: number[] = [];
  t.equal(await store.purge({ state: 'dead', onProgress: (d) => void progress.push(d) }), 2);
  t.same(progress, [2]);
  t.equal((await store.getMessage('d1'))!.destinations[0]!.state, 'purged');
  t.ok(store.heldPayloadBytes() < held);
  t.equal(await store.retryDead({}), 0, 'purged rows cannot come back');
  t.same(
    audited.filter((e) => e.event === 'purged').map((e) => e.messageId),
    ['d1', 'd3'],
  );
  t.ok(audited.some((e) => e.event === 'admin-action' && e.messageId === 'd2'));
});

t.test('retention deletes old finished rows and messages and shreds unused cipher scopes', async (t) => {
  let now = 1_800_000_000_000;
  const shredded: string[] = [];
  const cipher: PayloadCipher = { encrypt: (p) => p, decrypt: (c) => c, shred: (s) => void shredded.push(s) };
  const { store } = openStore(t, { clock: () => now, cipher });
  await store.accept(makeWrite({ id: 'old', items: [{ cipherScope: 'd:old' }] }));
  await store.accept(makeWrite({ id: 'stuck', items: [{ cipherScope: 'd:stuck' }] }));
  await store.accept(makeWrite({ id: 'denied-only', items: [] }));
  const [old, stuck] = await store.claim('nhs-pk', 2);
  await store.markDelivered([old!.id], { status: 200 });
  await store.markDead(stuck!.id, 'HTTP 400');
  now += 1_000;
  t.same(await store.purgeDelivered(60_000), { items: 0, messages: 0, scopes: 0 }, 'nothing is old enough yet');
  now += 3_600_000;
  const r = await store.purgeDelivered(60_000);
  t.same(r, { items: 1, messages: 2, scopes: 1 });
  t.equal(await store.getMessage('old'), undefined);
  t.equal(await store.getMessage('denied-only'), undefined);
  t.equal((await store.getMessage('stuck'))!.destinations[0]!.state, 'dead', 'dead letters are kept for the operator');
  t.same(shredded, ['d:old'], 'a scope still holding a payload is not shredded');
});

t.test('claim and settle skip their own fsync but leave the connection at synchronous=FULL', async (t) => {
  const { store, db } = openStore(t);
  await store.accept(makeWrite({ id: 'sync' }));
  const seen: number[] = [];
  const [c] = await store.claim('nhs-pk', 1);
  seen.push(db.pragma('synchronous', { simple: true }) as number);
  await store.markDelivered([c!.id], { status: 200 });
  seen.push(db.pragma('synchronous', { simple: true }) as number);
  t.same(seen, [2, 2], 'FULL (2) after each');
  const { store: strict, db: db2 } = openStore(t, { bookkeepingSync: 'FULL' });
  await strict.accept(makeWrite({ id: 'strict' }));
  t.equal((await strict.claim('nhs-pk', 1)).length, 1);
  t.equal(db2.pragma('synchronous', { simple: true }), 2);
});

t.test('newMessageId makes time-ordered UUID v7 ids', async (t) => {
  const a = newMessageId(1_800_000_000_000);
  const b = newMessageId(1_800_000_000_001);
  t.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.ok(a < b, 'later ids sort after earlier ones');
  t.equal(parseInt(a.replace(/-/g, '').slice(0, 12), 16), 1_800_000_000_000);
  t.not(newMessageId(5), newMessageId(5), 'random within one millisecond');
});
