import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import { SqliteQueueStore } from '../../src/queue/index.js';
import { deadLettersExpiring, runRetention } from '../../src/jobs/retention.js';
import type { AuditEvent } from '../../src/model/index.js';

const DAY = 86_400_000;

t.test('dead letters expire after their own window, audited; the warning comes first; idempotency keys have their own window', async (t) => {
  let now = Date.parse('2026-11-01T00:00:00Z');
  const db = openDatabase(join(t.testdir(), 'darwaza.db'));
  t.teardown(() => db.close());
  const audited: AuditEvent[] = [];
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0, clock: () => now, audit: { append: (e: AuditEvent[]) => void audited.push(...e) } } as never);
  for (const id of ['dead-old', 'dead-new', 'waiting']) {
    await store.accept({
      message: { id, receivedAt: new Date(now).toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
      items: [{ messageId: id, destination: 'national-telemed', lane: 'normal', payload: Buffer.alloc(100, 1), contentType: 'application/json', cipherScope: 'd:x', patientTokens: [], context: '{}' }],
      audit: [],
      idempotency: { key: `k-${id}`, response: '{}' },
    });
  }
  const claimed = await store.claim('national-telemed', 3);
  const byId = new Map(claimed.map((c) => [c.messageId, c]));
  await store.markDead(byId.get('dead-old')!.id, 'recipient answered 400', 400);
  now += 10 * DAY;
  await store.markDead(byId.get('dead-new')!.id, 'recipient answered 400', 400);
  await store.markRetry(byId.get('waiting')!.id, now, 'recipient answered 503', 503);
  t.equal(store.heldPayloadBytes(), 300);

  // 25 days after the first dead letter: it expires in 5 days, inside a 7-day warning.
  now += 15 * DAY;
  const warn = await deadLettersExpiring(store, { deadLetterMs: 30 * DAY, warnMs: 7 * DAY, now, destinations: ['national-telemed', 'other'] });
  t.same(warn, [{ destination: 'national-telemed', count: 1, firstExpiresAt: '2026-12-01T00:00:00.000Z' }]);

  now += 6 * DAY;
  audited.length = 0;
  const r = await runRetention(store, now, 7 * DAY, { deadLetterMs: 30 * DAY, idempotencyMs: 60 * DAY });
  t.equal(r.deadExpired, 1);
  const old = (await store.getMessage('dead-old'))!.destinations[0]!;
  t.equal(old.state, 'purged', 'the expired dead letter lost its payload');
  t.equal((await store.getMessage('dead-new'))!.destinations[0]!.state, 'dead', 'a younger one stays');
  t.equal((await store.getMessage('waiting'))!.destinations[0]!.state, 'retrying', 'waiting rows are never expired');
  t.equal(store.heldPayloadBytes(), 200, 'the quota counts the freed bytes');
  t.match(audited, [{ event: 'purged', messageId: 'dead-old', destination: 'national-telemed', reason: 'retention: dead letter expired after 30 days', actor: 'retention' }]);
  t.equal((db.prepare("SELECT payload FROM queue_items WHERE message_id = 'dead-old'").get() as { payload: Buffer | null }).payload, null);
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM queue_idempotency').get() as { n: number }).n, 3, 'idempotency keys younger than their 60-day window stay');
  await runRetention(store, now, 7 * DAY, { deadLetterMs: 30 * DAY, idempotencyMs: 20 * DAY });
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM queue_idempotency').get() as { n: number }).n, 0, 'and go after theirs');
  await t.rejects(runRetention(store, now, 7 * DAY, { deadLetterMs: 0 }), /deadLetterMs must be a positive number/);
});
