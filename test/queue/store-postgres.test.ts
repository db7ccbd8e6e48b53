// The shared store suite against PostgresQueueStore (one throwaway server, a fresh database per test).
import t from 'tap';
import pg from 'pg';
import { PostgresQueueStore, type PostgresQueueStoreOptions } from '../../src/queue/postgres/index.js';
import type { QueueStore } from '../../src/queue/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { storeSuite, type Backend } from './store-suite.js';

const server = await startPostgres(t);

const open: Backend = async (t, opts = {}) => {
  const url = await server.newDatabase();
  const options: PostgresQueueStoreOptions = { url, nodeId: 'node-a', quotaBytes: opts.quotaBytes ?? 10_000_000, heldRefreshMs: 0, ...opts };
  let store: QueueStore = await PostgresQueueStore.open(options);
  const peek = new pg.Client({ connectionString: url });
  await peek.connect();
  t.teardown(async () => {
    await store.close();
    await peek.end();
  });
  return {
    get store() {
      return store;
    },
    reopen: async () => {
      await store.close();
      store = await PostgresQueueStore.open(options);
      return store;
    },
    rawPayloads: async (id) => (await peek.query<{ payload: Buffer | null }>('SELECT payload FROM queue_items WHERE message_id = $1 ORDER BY seq', [id])).rows.map((r) => r.payload),
    tamper: async (id) => void (await peek.query(`UPDATE queue_items SET payload = '\\x00'::bytea || payload WHERE message_id = $1`, [id])),
  };
};

storeSuite(t, open);
