/**
 * The patient-token index and WAL checkpoints are off the acknowledgement's transaction.
 * A withdrawal still finds every acknowledged message: the rows not yet indexed are indexed
 * in its own transaction, and after a crash (the pending rows lost with the process) the
 * next open indexes the tail. The WAL is checkpointed by the store's timer, and truncated
 * once it passes its bound.
 */
import t from 'tap';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { openDatabase } from '../../src/store/index.js';
import { AuditLog, disclosures, auditEvents } from '../../src/audit/index.js';
import { SqliteQueueStore, type AcceptWrite } from '../../src/queue/index.js';

const TOKEN = 'tokAAAAAAAAAAAAAAAAAAAAA';
let n = 0;
function write(tokens = [TOKEN]): AcceptWrite {
  const id = `m-${++n}`;
  return {
    message: { id, receivedAt: new Date(1_800_000_000_000).toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
    items: [{ messageId: id, destination: 'nhs-pk', lane: 'normal', payload: Buffer.from(`{"m":"${id}"}`), contentType: 'application/json', cipherScope: 'd:2026-11-26', patientTokens: tokens, context: '{}' }],
    audit: [],
  };
}
const indexRows = (db: ReturnType<typeof openDatabase>) => db.prepare('SELECT COUNT(*) FROM queue_item_patients').pluck().get() as number;

t.test('the index is written after the commit, and a withdrawal right after the ack finds the message', async (t) => {
  const db = openDatabase(join(t.testdir(), 'q.db'));
  const store = SqliteQueueStore.open(db, { quotaBytes: 10_000_000, minFreeDiskBytes: 0 });
  t.teardown(() => {
    void store.close();
    db.close();
  });
  await store.accept(write());
  t.equal(indexRows(db), 0, 'the acknowledged transaction did not write the index');
  t.equal(await store.withdrawForPatient([TOKEN]), 1, 'the withdrawal found the message all the same');
  t.equal(indexRows(db), 1, 'and indexed it in its own transaction');

  await store.accept(write());
  await new Promise((r) => setTimeout(r, 300));
  t.equal(indexRows(db), 2, 'with no commit following, the idle timer writes the index');

  await store.accept(write());
  await store.accept(write([]));
  t.equal(indexRows(db), 3, 'the next group commit carries the previous one’s index rows');
});

t.test('rows acknowledged but never indexed (a crash) are indexed when the store opens again; reports see them before', async (t) => {
  const file = join(t.testdir(), 'q.db');
  const db = openDatabase(file);
  const store = SqliteQueueStore.open(db, { quotaBytes: 10_000_000, minFreeDiskBytes: 0, audit: { append: () => {} } });
  await store.accept(write());
  await store.accept(write());
  // The process dies here: nothing after the commit runs (no close, no idle timer).
  db.close();

  const db2 = openDatabase(file);
  t.teardown(() => db2.close());
  t.equal(indexRows(db2), 1, 'the second commit carried the first one’s index row; its own was still pending');
  const store2 = SqliteQueueStore.open(db2, { quotaBytes: 10_000_000, minFreeDiskBytes: 0 });
  t.teardown(() => void store2.close());
  t.equal(indexRows(db2), 2, 'opening the store indexed the tail');
  t.equal(await store2.withdrawForPatient([TOKEN]), 2, 'and a withdrawal finds both');
});

t.test('a disclosure report finds a message past the index by its own token list', async (t) => {
  const file = join(t.testdir(), 'q.db');
  const db = openDatabase(file);
  const log = AuditLog.open(db);
  const store = SqliteQueueStore.open(db, { quotaBytes: 10_000_000, minFreeDiskBytes: 0, audit: log });
  t.teardown(() => {
    void store.close();
    db.close();
  });
  const other = 'tokBBBBBBBBBBBBBBBBBBBBB';
  const w = write([other, TOKEN]);
  w.audit = [auditEvents.decided({ time: new Date(), messageId: w.message.id, source: 'ehr', destination: 'nhs-pk', decision: 'permit', policySha256: 'a'.repeat(64), patientToken: other })];
  await store.accept(w);
  t.equal(indexRows(db), 0, 'not indexed yet');
  t.same(disclosures(db, TOKEN).map((r) => r.messageId), [w.message.id], 'found through the second token all the same');
});

t.test('checkpoints run in the background and TRUNCATE past the WAL bound', async (t) => {
  const file = join(t.testdir(), 'q.db');
  const db = openDatabase(file);
  const store = SqliteQueueStore.open(db, { quotaBytes: 1_000_000_000, minFreeDiskBytes: 0, checkpoints: { intervalMs: 100, walBoundBytes: 256 * 1024 } });
  t.teardown(() => {
    void store.close();
    db.close();
  });
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'SQLite does not checkpoint inside a commit');
  // Each commit alone writes more than the bound, and the size is read right after each commit, before
  // any timer can run: however slow the machine, the commits themselves never checkpoint.
  const big = (i: number): AcceptWrite => {
    const w = write();
    w.items[0].payload = Buffer.alloc(320 * 1024, i % 251);
    return w;
  };
  let grown = 0;
  for (let i = 0; i < 20; i++) {
    await store.accept(big(i));
    grown = Math.max(grown, statSync(`${file}-wal`).size);
  }
  t.ok(grown > 256 * 1024, `the WAL grew past the bound between checkpoints (${grown} bytes)`);
  let wal = statSync(`${file}-wal`).size;
  for (let i = 0; i < 100 && wal > 256 * 1024; i++) {
    await new Promise((r) => setTimeout(r, 100));
    wal = statSync(`${file}-wal`).size;
  }
  t.ok(wal <= 256 * 1024, `the background checkpoint truncated it (${wal} bytes)`);
  await store.close();
  t.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'closing the store gives the connection its automatic checkpoint back');
});

t.test('a burst that never yields to the timer still keeps the WAL bounded', async (t) => {
  const file = join(t.testdir(), 'q.db');
  const db = openDatabase(file);
  // A timer that will not fire during the burst: only the commit path can checkpoint.
  const store = SqliteQueueStore.open(db, { quotaBytes: 1_000_000_000, minFreeDiskBytes: 0, checkpoints: { intervalMs: 3_600_000, walBoundBytes: 128 * 1024 } });
  t.teardown(() => {
    void store.close();
    db.close();
  });
  let maxWal = 0;
  // Chained in microtasks only: no turn of the event loop between the commits.
  for (let i = 0; i < 300; i++) {
    const w = write();
    w.items[0].payload = Buffer.alloc(16 * 1024, i % 251);
    const p = store.accept(w);
    store.flush();
    await p;
    maxWal = Math.max(maxWal, statSync(`${file}-wal`).size);
  }
  // Looked at every 16 commits, truncated past twice the bound: at most 2 × 128 KiB plus 16
  // commits of one 16 KiB payload each and their pages (generously 64 KiB per commit).
  t.ok(maxWal <= 2 * 128 * 1024 + 16 * 64 * 1024, `the WAL stayed near its bound (${maxWal} bytes at most; 300 × 16 KiB were written)`);
});
