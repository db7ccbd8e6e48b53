import t from 'tap';
import { join } from 'node:path';
import { migrate, openDatabase } from '../../src/store/index.js';
import { QUEUE_MIGRATIONS } from '../../src/queue/schema.js';
import { SqliteQueueStore, type AcceptWrite } from '../../src/queue/index.js';
import { laneOfItem } from '../../src/queue/lanes.js';

const write = (id: string, purpose: string, lane: 'emergency' | 'normal' = 'normal'): AcceptWrite => ({
  message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose, format: 'fhir', outcomes: '[]' },
  items: [
    {
      messageId: id,
      destination: 'national-telemed',
      lane,
      payload: Buffer.from(`sealed ${id}`),
      contentType: 'application/vnd.darwaza.envelope+json',
      cipherScope: 'd:1',
      patientTokens: ['tok-a'],
      context: JSON.stringify({ purpose }),
    },
  ],
  audit: [],
});

t.test('claims follow emergency > treatment > public health > research across a backlog far larger than one claim', async (t) => {
  const db = openDatabase(join(t.testdir(), 'darwaza.db'));
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0 });
  t.teardown(async () => {
    await store.close();
    db.close();
  });
  // Enqueued in the worst order: bulk first, emergency last.
  for (let i = 0; i < 40; i++) await store.accept(write(`research-${i}`, 'HRESCH'));
  for (let i = 0; i < 40; i++) await store.accept(write(`pubhealth-${i}`, 'PUBHLTH'));
  for (let i = 0; i < 40; i++) await store.accept(write(`treat-${i}`, 'TREAT'));
  for (let i = 0; i < 5; i++) await store.accept(write(`etreat-${i}`, 'ETREAT', 'emergency'));
  const order: string[] = [];
  for (;;) {
    const got = await store.claim('national-telemed', 7);
    if (!got.length) break;
    order.push(...got.map((c) => c.messageId));
  }
  t.equal(order.length, 125, 'everything claimed');
  const expected = [
    ...Array.from({ length: 5 }, (_, i) => `etreat-${i}`),
    ...Array.from({ length: 40 }, (_, i) => `treat-${i}`),
    ...Array.from({ length: 40 }, (_, i) => `pubhealth-${i}`),
    ...Array.from({ length: 40 }, (_, i) => `research-${i}`),
  ];
  t.same(order, expected, 'strict lane order, enqueue order within a lane, across claims of 7');
});

t.test('the four-lane migration recomputes old rows from their stored purpose and keeps everything else', async (t) => {
  const file = join(t.testdir(), 'darwaza.db');
  const db = openDatabase(file);
  migrate(db, 'queue', QUEUE_MIGRATIONS.filter((m) => m.version <= 3));
  const insMsg = db.prepare(`INSERT INTO queue_messages (id, received_at, source, purpose, format, outcomes) VALUES (?, '2026-01-01T00:00:00Z', 'ehr', ?, 'fhir', '[]')`);
  const insItem = db.prepare(
    `INSERT INTO queue_items (message_id, destination, lane, state, enqueued_at, next_attempt_at, updated_at, content_type, cipher_scope, patient_tokens, context, payload, payload_bytes)
     VALUES (?, 'national-telemed', ?, 'ready', 1, 1, 1, 'x', 'd:1', '["tok"]', ?, NULL, 10)`,
  );
  const rows: [id: string, msgPurpose: string, lane: number, context: string, want: number][] = [
    ['e', 'ETREAT', 0, '{"purpose":"ETREAT"}', 0],
    ['tr', 'TREAT', 1, '{"purpose":"TREAT"}', 1],
    ['ph', 'PUBHLTH', 1, '{"purpose":"PUBHLTH"}', 2],
    ['rs', 'HRESCH', 1, '{"purpose":"HRESCH"}', 3],
    // No purpose in the context: the message's.
    ['ctxless', 'POPHLTH', 1, '{}', 2],
    ['broken', 'HRESCH', 1, 'not json', 3],
    // A normal row with an emergency purpose is not promoted.
    ['late-etreat', 'ETREAT', 1, '{"purpose":"ETREAT"}', 1],
  ];
  for (const [id, purpose, lane, context] of rows) {
    insMsg.run(id, purpose);
    const { lastInsertRowid } = insItem.run(id, lane, context);
    db.prepare('INSERT INTO queue_item_patients (token, seq) VALUES (?, ?)').run(`tok-${id}`, lastInsertRowid);
  }
  migrate(db, 'queue', QUEUE_MIGRATIONS);
  const after = db.prepare('SELECT message_id AS id, lane FROM queue_items').all() as { id: string; lane: number }[];
  t.same(Object.fromEntries(after.map((r) => [r.id, r.lane])), Object.fromEntries(rows.map((r) => [r[0], r[4]])), 'lanes recomputed');
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM queue_item_patients').get() as { n: number }).n, rows.length, 'the patient index survived the rebuild');
  t.equal((db.pragma('foreign_key_check') as unknown[]).length, 0, 'foreign keys hold');
  t.throws(() => insItem.run('tr', 4, '{}'), /CHECK constraint/, 'lanes stay within 0..3');
  // The migrated lanes agree with the dispatcher's reading of the same rows (lane ranks).
  for (const [id, , lane, context, want] of rows.filter((r) => r[3].startsWith('{"purpose"'))) {
    t.equal(['emergency', 'treatment', 'public-health', 'research'].indexOf(laneOfItem({ lane: lane === 0 ? 'emergency' : 'normal', context })), want, `${id}: same lane as the dispatcher reads`);
  }
  db.close();
});
