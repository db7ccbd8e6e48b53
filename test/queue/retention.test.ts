import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import { SqliteQueueStore } from '../../src/queue/index.js';
import { runRetention, scheduleRetention } from '../../src/jobs/retention.js';

t.test('runRetention removes finished rows older than the window and keeps the rest', async (t) => {
  let now = Date.parse('2026-11-20T00:00:00Z');
  const db = openDatabase(join(t.testdir(), 'darwaza.db'));
  t.teardown(() => db.close());
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0, clock: () => now });
  for (const id of ['done', 'waiting']) {
    await store.accept({
      message: { id, receivedAt: new Date(now).toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
      items: [
        { messageId: id, destination: 'nhs-pk', lane: 'normal', payload: Buffer.from('{}'), contentType: 'application/json', cipherScope: 'd:x', patientTokens: [], context: '{}' },
      ],
      audit: [],
    });
  }
  const [done] = await store.claim('nhs-pk', 1);
  await store.markDelivered([done!.id], { status: 200 });
  now += 8 * 24 * 3600_000;
  const r = await runRetention(store, now, 7 * 24 * 3600_000);
  t.match(r, { items: 1, messages: 1, scopes: 0, at: new Date(now).toISOString() });
  t.equal(await store.getMessage('done'), undefined);
  t.equal((await store.getMessage('waiting'))!.destinations[0]!.state, 'queued', 'undelivered rows are never purged by retention');
  await t.rejects(runRetention(store, now, 0), /retentionMs must be a positive number/);
});

t.test('scheduleRetention runs the pass on its schedule without an onRun listener, and stops cleanly', async (t) => {
  const calls: number[] = [];
  const store = { purgeDelivered: async (ms: number) => (calls.push(ms), { items: 0, messages: 0, scopes: 0 }) };
  t.throws(() => scheduleRetention({ store, retentionMs: 1000, cron: 'every tuesday' }), /cron expression is not valid/);
  const every = scheduleRetention({ store, retentionMs: 1000, cron: '* * * * * *' });
  const end = Date.now() + 6_000;
  while (calls.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  every.stop();
  const seen = calls.length;
  t.ok(seen >= 1, `ran ${seen} times`);
  t.same(calls.slice(0, 1), [1000], 'with the configured window');
  await new Promise((r) => setTimeout(r, 1_100));
  t.equal(calls.length, seen, 'no runs after stop()');
});

t.test('migration 2 counts the rows of messages already stored, so retention keeps the queued ones', async (t) => {
  const { migrate } = await import('../../src/store/index.js');
  const { QUEUE_MIGRATIONS } = await import('../../src/queue/index.js');
  const db = openDatabase(join(t.testdir(), 'darwaza.db'));
  t.teardown(() => db.close());
  migrate(db, 'queue', QUEUE_MIGRATIONS.filter((m) => m.version === 1));
  const old = '2026-01-01T00:00:00.000Z';
  const ins = db.prepare('INSERT INTO queue_messages (id, received_at, source, purpose, format, outcomes) VALUES (?, ?, ?, ?, ?, ?)');
  ins.run('denied', old, 'ehr', 'TREAT', 'fhir', '[]');
  ins.run('queued', old, 'ehr', 'TREAT', 'fhir', '[]');
  db.prepare(
    `INSERT INTO queue_items (message_id, destination, lane, state, enqueued_at, next_attempt_at, updated_at, content_type,
       cipher_scope, patient_tokens, context, payload, payload_bytes) VALUES ('queued', 'nhs-pk', 1, 'ready', 1, 1, 1, 'application/json', 'd:1', '[]', '{}', X'00', 1)`,
  ).run();
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0 });
  t.match(await store.purgeDelivered(1000), { messages: 1 });
  t.equal(await store.getMessage('denied'), undefined);
  t.equal((await store.getMessage('queued'))!.destinations[0]!.state, 'queued');
});
