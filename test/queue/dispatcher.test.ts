import t, { type Test } from 'tap';
import { join } from 'node:path';
import type { AuditEvent, Destination, PayloadCipher } from '../../src/model/index.js';
import { openDatabase } from '../../src/store/index.js';
import { auditEvents } from '../../src/audit/index.js';
import { Dispatcher, SqliteQueueStore, type AcceptWrite, type DispatcherOptions, type QueueStoreOptions } from '../../src/queue/index.js';
import { createUplink } from '../../src/egress/index.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/index.js';

let n = 0;
function makeWrite(over: { id?: string; lane?: 'emergency' | 'normal'; context?: string; destination?: string } = {}): AcceptWrite {
  const id = over.id ?? `d-${++n}`;
  return {
    message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
    items: [
      {
        messageId: id,
        destination: over.destination ?? 'nhs-pk',
        lane: over.lane ?? 'normal',
        payload: Buffer.from(JSON.stringify({ envelope: id })),
        contentType: 'application/json',
        cipherScope: 'd:1',
        patientTokens: ['tok'],
        context: over.context ?? '{}',
      },
    ],
    audit: [],
  };
}

function dest(url: string, over: Partial<Destination> = {}): Destination {
  return {
    name: 'nhs-pk',
    url,
    country: 'PK',
    kind: 'treatment',
    format: 'fhir',
    timeoutMs: 2_000,
    concurrency: 8,
    retry: { maxAttempts: 50, baseDelayMs: 2, maxDelayMs: 20, maxAgeMs: 3_600_000 },
    ...over,
  };
}

async function setup(
  t: Test,
  o: { sim?: SimulatorOptions; store?: Partial<QueueStoreOptions>; dest?: Partial<Destination>; dispatcher?: Partial<DispatcherOptions> } = {},
) {
  const sim: Simulator = await startSimulator({ port: 0, ...o.sim });
  const db = openDatabase(join(t.testdir(), 'darwaza.db'));
  const audited: AuditEvent[] = [];
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0, audit: { append: (e) => void audited.push(...e) }, ...o.store });
  const uplink = createUplink();
  const d = dest(sim.url + '/fhir', o.dest);
  const dispatcher = new Dispatcher({
    store,
    destinations: [d],
    deliver: (dd, item) => uplink.deliver(dd, item.payload, { idempotencyKey: item.messageId, contentType: item.contentType }),
    pollMs: 20,
    breaker: { failureThreshold: 3, cooldownMs: 100 },
    ...o.dispatcher,
  });
  t.teardown(async () => {
    await dispatcher.stop();
    uplink.close();
    await sim.stop();
    await store.close();
    db.close();
  });
  return { sim, store, dispatcher, audited, db, d };
}

async function until(t: Test, what: string, cond: () => boolean | Promise<boolean>, ms = 8_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) {
      t.fail(`timed out waiting until ${what}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

const stateOf = async (store: SqliteQueueStore, id: string) => (await store.getMessage(id))?.destinations[0]?.state;

t.test('every queued message reaches the simulator exactly once, even when answers are lost', async (t) => {
  const { sim, store, dispatcher } = await setup(t, { sim: { dropRate: 0.1, dropAfterAcceptRate: 0.15 } });
  const ids: string[] = [];
  for (let i = 0; i < 150; i++) {
    const w = makeWrite();
    ids.push(w.message.id);
    await store.accept(w);
  }
  dispatcher.start();
  await until(t, 'all delivered', async () => (await store.counts()).every((c) => c.state === 'delivered'));
  t.same(new Set(sim.state.ids), new Set(ids), 'every id arrived');
  t.equal(sim.state.ids.length, 150, 'and none twice');
  t.ok(sim.state.dropped > 0 && sim.state.duplicates > 0, `lost answers were re-sent (${sim.state.dropped} dropped, ${sim.state.duplicates} duplicates)`);
});

t.test('kick() wakes the dispatcher for new rows; emergency rows go first', async (t) => {
  const { sim, store, dispatcher } = await setup(t, { dest: { concurrency: 1 }, dispatcher: { pollMs: 60_000 } });
  for (let i = 0; i < 4; i++) await store.accept(makeWrite({ id: `norm${i}` }));
  await store.accept(makeWrite({ id: 'urgent', lane: 'emergency' }));
  dispatcher.start();
  await until(t, 'five arrived', () => sim.state.ids.length === 5);
  t.same(sim.state.ids, ['urgent', 'norm0', 'norm1', 'norm2', 'norm3']);
  await store.accept(makeWrite({ id: 'late' }));
  dispatcher.kick('nhs-pk');
  await until(t, 'the kicked row arrived', () => sim.state.ids.includes('late'), 5_000);
});

t.test('a 400 answer dead-letters at once; the dead letter can be retried later', async (t) => {
  const { sim, store, dispatcher, audited } = await setup(t, { sim: { status: 400 } });
  await store.accept(makeWrite({ id: 'bad' }));
  dispatcher.start();
  await until(t, 'dead', async () => (await stateOf(store, 'bad')) === 'dead');
  const row = (await store.getMessage('bad'))!.destinations[0]!;
  t.equal(row.attempts, 1, 'no retry of a permanent failure');
  t.equal(row.lastStatus, 400);
  t.ok(audited.some((e) => e.event === 'dead-lettered' && e.messageId === 'bad'));
  t.equal(dispatcher.breakerState('nhs-pk'), 'closed', 'a 4xx proves the service is up');
  sim.control({ status: null });
  t.equal(await store.retryDead({ messageIds: ['bad'] }), 1);
  dispatcher.kick('nhs-pk');
  await until(t, 'delivered after retry', async () => (await stateOf(store, 'bad')) === 'delivered');
  t.same(sim.state.ids, ['bad']);
});

t.test('a 503 with Retry-After is retried no sooner than the server asked', async (t) => {
  const { sim, store, dispatcher } = await setup(t, { sim: { status: 503, retryAfterS: 30 } });
  await store.accept(makeWrite({ id: 'later' }));
  const before = Date.now();
  dispatcher.start();
  await until(t, 'retrying', async () => (await stateOf(store, 'later')) === 'retrying');
  const row = (await store.getMessage('later'))!.destinations[0]!;
  t.equal(row.lastError, 'HTTP 503');
  t.ok(Date.parse(row.nextAttemptAt!) - before >= 30_000, 'next attempt at least 30 s later');
  t.equal(sim.state.failed, 1, 'nothing re-sent in the meantime');
});

t.test('the circuit opens while the uplink is down, holds rows back, and closes when it is back', async (t) => {
  const { sim, store, dispatcher } = await setup(t, {
    sim: { down: true },
    dispatcher: { pollMs: 20, breaker: { failureThreshold: 3, cooldownMs: 600 } },
  });
  for (let i = 0; i < 30; i++) await store.accept(makeWrite());
  dispatcher.start();
  await until(t, 'open', () => dispatcher.breakerState('nhs-pk') === 'open');
  await until(t, 'the attempts under way have failed', () => dispatcher.states()[0]!.inFlight === 0);
  await new Promise((r) => setTimeout(r, 10));
  const counts = await store.counts();
  t.notOk(counts.some((c) => c.state === 'delivering'), 'claimed rows were given back while open: ' + JSON.stringify(counts));
  t.ok(counts.some((c) => c.state === 'retrying'), 'the failed ones wait for their retry');
  const triedWhileDown = sim.state.dropped;
  t.ok(triedWhileDown < 30, `only ${triedWhileDown} attempts reached the closed port, not one per row`);
  sim.control({ down: false });
  await until(t, 'all delivered', async () => (await store.counts()).every((c) => c.state === 'delivered'));
  t.equal(dispatcher.breakerState('nhs-pk'), 'closed');
  t.equal(sim.state.ids.length, 30);
});

t.test('after max attempts a message is dead-lettered, and past max age it is not sent at all', async (t) => {
  const { sim, store, dispatcher } = await setup(t, {
    sim: { status: 503 },
    dest: { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, maxAgeMs: 3_600_000 } },
    dispatcher: { breaker: { failureThreshold: 100, cooldownMs: 10 } },
  });
  await store.accept(makeWrite({ id: 'tired' }));
  dispatcher.start();
  await until(t, 'dead', async () => (await stateOf(store, 'tired')) === 'dead');
  const row = (await store.getMessage('tired'))!.destinations[0]!;
  t.equal(row.attempts, 3);
  t.match(row.lastError, /gave up after 3 attempts: HTTP 503/);
  t.equal(sim.state.failed, 3);

  const old = await setup(t, { dispatcher: { clock: () => Date.now() + 2 * 3_600_000 } });
  await old.store.accept(makeWrite({ id: 'stale' }));
  old.dispatcher.start();
  await until(t, 'dead', async () => (await stateOf(old.store, 'stale')) === 'dead');
  t.match((await old.store.getMessage('stale'))!.destinations[0]!.lastError, /maximum age/);
  t.equal(old.sim.state.total, 0, 'never sent');
});

t.test('a consent withdrawal found at send time stops the delivery and destroys the payload', async (t) => {
  const { sim, store, dispatcher, audited, db } = await setup(t, {
    dispatcher: {
      recheck: (item) =>
        item.context.includes('withdrawn')
          ? {
              kind: 'withdraw',
              reason: 'consent c9 withdrawn',
              audit: [auditEvents.consentWithdrawn({ time: new Date(), messageId: item.messageId, consentId: 'c9', reason: 'consent c9 withdrawn' })],
            }
          : { kind: 'ok' },
    },
  });
  await store.accept(makeWrite({ id: 'keep' }));
  await store.accept(makeWrite({ id: 'stop', context: '{"note":"withdrawn"}' }));
  dispatcher.start();
  await until(t, 'settled', async () => (await stateOf(store, 'keep')) === 'delivered' && (await stateOf(store, 'stop')) === 'withdrawn');
  t.same(sim.state.ids, ['keep'], 'never delivered');
  t.equal((db.prepare("SELECT payload FROM queue_items WHERE message_id = 'stop'").get() as { payload: unknown }).payload, null);
  t.match(audited.find((e) => e.event === 'consent-withdrawn'), { messageId: 'stop', consentId: 'c9' });
});

t.test('a tampered payload is dead-lettered and the dispatcher keeps going', async (t) => {
  const cipher: PayloadCipher = {
    encrypt: (p) => Buffer.concat([Buffer.from('E:'), Buffer.from(p)]),
    decrypt: (c) => {
      if (Buffer.from(c).subarray(0, 2).toString() !== 'E:') throw new Error('PayloadTamperedError');
      return Buffer.from(c).subarray(2);
    },
    shred: () => {},
  };
  const { sim, store, dispatcher, db } = await setup(t, { store: { cipher } });
  for (const id of ['a', 'b', 'c']) await store.accept(makeWrite({ id }));
  db.prepare("UPDATE queue_items SET payload = CAST(X'FF' || payload AS BLOB) WHERE message_id = 'b'").run();
  dispatcher.start();
  await until(t, 'a and c delivered', async () => sim.state.ids.length === 2 && (await stateOf(store, 'c')) === 'delivered');
  t.same(sim.state.ids, ['a', 'c']);
  t.equal((await stateOf(store, 'b')), 'dead');
  t.equal((await store.getMessage('b'))!.destinations[0]!.lastError, 'payload failed authentication');
});

t.test('stop() waits for deliveries in flight and commits their results', async (t) => {
  const { sim, store, dispatcher } = await setup(t, { sim: { delayMs: 400 }, dest: { concurrency: 2 } });
  for (let i = 0; i < 6; i++) await store.accept(makeWrite({ id: `s${i}` }));
  dispatcher.start();
  await until(t, 'in flight', () => dispatcher.states()[0]!.inFlight === 2);
  await dispatcher.stop();
  t.equal(dispatcher.states()[0]!.inFlight, 0);
  t.same(sim.state.ids, ['s0', 's1']);
  t.equal((await stateOf(store, 's0')), 'delivered');
  t.equal((await stateOf(store, 's1')), 'delivered');
  t.same(await Promise.all(['s2', 's3', 's4', 's5'].map((id) => stateOf(store, id))), ['queued', 'queued', 'queued', 'queued'], 'unstarted rows were given back');
});

t.test('a deliver function that throws counts as a retry, not a crash', async (t) => {
  let calls = 0;
  const errors: string[] = [];
  const { store, dispatcher } = await setup(t, {
    dispatcher: {
      deliver: async () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error('boom with details'), { code: 'EBOOM' });
        return { kind: 'delivered', status: 200 };
      },
      onError: (err) => void errors.push((err as { code?: string }).code ?? ''),
    },
  });
  await store.accept(makeWrite({ id: 'x' }));
  dispatcher.start();
  await until(t, 'delivered', async () => (await stateOf(store, 'x')) === 'delivered');
  t.equal(calls, 3);
  t.same(errors, ['EBOOM', 'EBOOM']);
});

t.test('a consent re-check that fails (unknown state) sends nothing now and keeps the row for later', async (t) => {
  let broken = true;
  const { sim, store, dispatcher } = await setup(t, {
    dest: { retry: { maxAttempts: 50, baseDelayMs: 30, maxDelayMs: 60, maxAgeMs: 3_600_000 } },
    dispatcher: {
      recheck: () => {
        if (broken) throw new Error('consent registry unavailable');
        return { kind: 'ok' };
      },
    },
  });
  await store.accept(makeWrite({ id: 'unsure' }));
  dispatcher.start();
  dispatcher.kick('no-such-destination');
  await until(t, 'waiting for a retry', async () => (await stateOf(store, 'unsure')) === 'retrying');
  t.equal((await store.getMessage('unsure'))!.destinations[0]!.lastError, 'consent re-check failed');
  t.equal(sim.state.total, 0, 'unknown means deny: nothing sent');
  broken = false;
  await until(t, 'delivered once the re-check answers', async () => (await stateOf(store, 'unsure')) === 'delivered');
  t.same(sim.state.ids, ['unsure']);
});
