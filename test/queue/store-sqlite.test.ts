// The shared store suite against SqliteQueueStore (a real file per test).
import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import { SqliteQueueStore, type QueueStore } from '../../src/queue/index.js';
import { storeSuite, type Backend } from './store-suite.js';

const open: Backend = async (t, opts = {}) => {
  const file = join(t.testdir(), 'darwaza.db');
  let db = openDatabase(file);
  let store: QueueStore = SqliteQueueStore.open(db, { quotaBytes: opts.quotaBytes ?? 10_000_000, minFreeDiskBytes: 0, ...opts });
  t.teardown(async () => {
    await store.close();
    if (db.open) db.close();
  });
  const payloads = (id: string) => (db.prepare('SELECT payload FROM queue_items WHERE message_id = ? ORDER BY seq').all(id) as { payload: Buffer | null }[]).map((r) => r.payload);
  return {
    get store() {
      return store;
    },
    reopen: async () => {
      await store.close();
      db.close();
      db = openDatabase(file);
      store = SqliteQueueStore.open(db, { quotaBytes: opts.quotaBytes ?? 10_000_000, minFreeDiskBytes: 0, ...opts });
      return store;
    },
    rawPayloads: async (id) => payloads(id),
    tamper: async (id) => void db.prepare("UPDATE queue_items SET payload = CAST(X'00' || payload AS BLOB) WHERE message_id = ?").run(id),
  };
};

storeSuite(t, open);
