/**
 * PostgreSQL only ever sees ciphertext: messages whose payload carries a canary are
 * queued through the real at-rest cipher (data keys wrapped in the node's SQLite key
 * store), the server checkpoints, and every file of the cluster — tables and WAL — is
 * searched for the canary. A control database written without the cipher shows the
 * search does find a plaintext canary.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { openAtRestCipher, dayScope } from '../../src/crypto/index.js';
import { openDatabase } from '../../src/store/index.js';
import { PostgresQueueStore } from '../../src/queue/postgres/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { makeWrite } from './store-suite.js';
import { filesUnder } from '../helpers/phi.js';


const found = (dir: string, needle: string) => filesUnder(dir).filter((f) => readFileSync(f).includes(Buffer.from(needle)));

async function checkpoint(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('CHECKPOINT');
  await c.end();
}

t.test('no canary from a payload in any file of the cluster, tables or WAL', async (t) => {
  const server = await startPostgres(t);
  const keysDb = openDatabase(join(t.testdir(), 'keys.db'));
  t.teardown(() => keysDb.close());
  const cipher = await openAtRestCipher(keysDb, { kek: { from: 'key', key: new Uint8Array(32).fill(7) } });
  const canary = 'CANARY-Zainab-Bibi-1961-4410112345671';
  const sealed = await PostgresQueueStore.open({ url: await server.newDatabase(), quotaBytes: 1e9, cipher, heldRefreshMs: 0 });
  const scope = dayScope(new Date());
  for (let i = 0; i < 50; i++) {
    await sealed.accept(makeWrite({ id: `sealed-${i}`, items: [{ payload: Buffer.from(`{"name":"${canary}","n":${i}}`), cipherScope: scope }] }));
  }
  const claimed = await sealed.claim('nhs-pk', 1);
  t.match(Buffer.from(claimed[0]!.payload).toString(), canary, 'the store hands the payload back decrypted');
  await sealed.close();
  await checkpoint(server.url);
  t.same(found(join(server.dir, 'data'), canary), [], 'the canary is in no file of the cluster');

  // Control: the same canary written without encryption is found by the same search.
  const control = 'CONTROL-' + canary;
  const plain = await PostgresQueueStore.open({ url: await server.newDatabase(), quotaBytes: 1e9, heldRefreshMs: 0 });
  await plain.accept(makeWrite({ id: 'plain', items: [{ payload: Buffer.from(control) }] }));
  await plain.close();
  await checkpoint(server.url);
  t.ok(found(join(server.dir, 'data'), control).length > 0, 'the search finds a plaintext canary');
});
