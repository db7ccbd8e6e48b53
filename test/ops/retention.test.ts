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

t.test('a withdrawn consent is kept through its legal hold, then deleted and audited; an active one stays', async (t) => {
  const { ConsentRegistry } = await import('../../src/consent/index.js');
  const { openAtRestCipher, createTokenizer, getSodium } = await import('../../src/crypto/index.js');
  const { consentFor } = await import('../../bench/fixtures.js');
  const { purgeWithdrawnConsents } = await import('../../src/jobs/retention.js');
  await getSodium();
  let now = Date.parse('2020-01-01T00:00:00Z');
  const db = openDatabase(join(t.testdir(), 'darwaza.db'));
  t.teardown(() => db.close());
  const cipher = await openAtRestCipher(db, { kek: { from: 'key', key: new Uint8Array(32).fill(7) } });
  const audited: AuditEvent[] = [];
  const audit = { append: (e: AuditEvent[]) => void audited.push(...e) };
  const registry = ConsentRegistry.open(db, { tokenize: createTokenizer(new Uint8Array(32).fill(1)), cipher, clock: () => new Date(now) });
  const gone = registry.put(consentFor('p-withdrawn')).id;
  const kept = registry.put(consentFor('p-active')).id;
  registry.withdraw(gone, 'patient asked');
  const hold = 6 * 365 * DAY;
  t.equal(purgeWithdrawnConsents(db, { holdMs: hold, now: now + hold - DAY, audit }), 0, 'inside the hold: kept');
  t.equal(purgeWithdrawnConsents(db, { holdMs: hold, now: now + hold + DAY, audit }), 1);
  const count = (table: string, id: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE id = ?`).get(id) as { n: number }).n;
  for (const table of ['consent_version', 'consent_token', 'consent_current']) {
    t.equal(count(table, gone), 0, `${table}: the withdrawn consent is gone`);
    t.ok(count(table, kept) > 0, `${table}: the active one stays`);
  }
  t.match(audited, [{ event: 'purged', consentId: gone, reason: 'retention: withdrawn consent past its legal hold of 2190 days', actor: 'retention' }]);
  registry.close();
});
