/**
 * The wrapped data keys behind the DataKeyTable interface: the same operations on the SQLite
 * table and on PostgreSQL (a real throwaway cluster); the key-table cipher writes the same
 * format as the SQLite at-rest cipher over the same rows; and two nodes sharing one KEK file
 * and one PostgreSQL read each other's ciphertexts, make a scope's key once between them,
 * see a shred, and survive a KEK rotation.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import {
  bindRow,
  copyDataKeys,
  DataKeyGoneError,
  KekError,
  openAtRestCipher,
  openKeyTableCipher,
  postgresDataKeyTable,
  scheduleKeyRefresh,
  sqliteDataKeyTable,
  type DataKeyTable,
  type KekSource,
} from '../../src/crypto/index.js';
import { openDatabase } from '../../src/store/index.js';
import { startPostgres } from '../helpers/postgres.js';

const server = await startPostgres(t);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const aad = bindRow('test-row', 'r1');

function kekFile(t: Test, name = 'kek.key'): KekSource {
  const path = join(t.testdir({}), name);
  writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  return { from: 'file', path };
}

async function pgPool(t: Test, url: string): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => {});
  t.teardown(() => pool.end());
  return pool;
}

const tables: Record<string, (t: Test) => Promise<DataKeyTable>> = {
  sqlite: async (t) => {
    const db = openDatabase(join(t.testdir({}), 'keys.db'));
    t.teardown(() => db.close());
    return sqliteDataKeyTable(db);
  },
  postgres: async (t) => postgresDataKeyTable(await pgPool(t, await server.newDatabase())),
};

for (const [name, make] of Object.entries(tables)) {
  t.test(`the key table on ${name}: by scope, by key id, insert if absent, delete, list, rewrap`, async (t) => {
    const table = await make(t);
    const row = (scope: string) => ({ scope, keyId: new Uint8Array(randomBytes(16)), wrapped: new Uint8Array(randomBytes(72)), createdAt: '2026-12-04T00:00:00.000Z' });
    t.equal(await table.readKek(), undefined);
    const kek = { kdf: 'raw', salt: null, opsLimit: null, memLimit: null, checkValue: new Uint8Array(16).fill(1), createdAt: '2026-12-04T00:00:00.000Z' };
    t.equal(await table.insertKekIfAbsent(kek), true);
    t.equal(await table.insertKekIfAbsent({ ...kek, checkValue: new Uint8Array(16).fill(2) }), false, 'the first KEK record stays');
    t.same((await table.readKek())!.checkValue, kek.checkValue);
    const a = row('d:2026-12-04');
    t.same(await table.insertIfAbsent(a), a);
    const other = row('d:2026-12-04');
    t.same(await table.insertIfAbsent(other), a, 'a second key for the scope is not stored: the first is returned');
    await table.insertIfAbsent(row('d:2026-12-05'));
    await table.insertIfAbsent(row('consent'));
    t.same(await table.byScope('d:2026-12-04'), a);
    t.same((await table.byKeyId(a.keyId))?.scope, 'd:2026-12-04');
    t.equal(await table.byKeyId(other.keyId), undefined);
    t.same((await table.list('d:')).map((r) => r.scope), ['d:2026-12-04', 'd:2026-12-05']);
    t.same((await table.list()).map((r) => r.scope), ['consent', 'd:2026-12-04', 'd:2026-12-05']);
    t.equal(await table.delete('d:2026-12-05'), true);
    t.equal(await table.delete('d:2026-12-05'), false);
    t.equal(await table.byScope('d:2026-12-05'), undefined);
    const rewrapped = new Uint8Array(randomBytes(72));
    await table.rewrap({ ...kek, checkValue: new Uint8Array(16).fill(3) }, [{ scope: 'consent', wrapped: rewrapped }]);
    t.same((await table.byScope('consent'))!.wrapped, rewrapped);
    t.same((await table.readKek())!.checkValue, new Uint8Array(16).fill(3));
    t.same((await table.all()).map((r) => r.scope), ['consent', 'd:2026-12-04']);
  });
}

t.test('the key-table cipher and the SQLite at-rest cipher read each other over the same rows', async (t) => {
  const db = openDatabase(join(t.testdir({}), 'shared.db'));
  t.teardown(() => db.close());
  const kek: KekSource = { from: 'key', key: new Uint8Array(32).fill(9) };
  const classic = await openAtRestCipher(db, { kek });
  const byClassic = classic.encrypt(enc('from the SQLite cipher'), 'consent', aad);
  const table = await openKeyTableCipher(sqliteDataKeyTable(db), { kek });
  t.equal(dec(table.decrypt(byClassic, 'consent', aad)), 'from the SQLite cipher', 'keys are loaded at open');
  await table.prepare(['d:2026-12-04']);
  const byTable = table.encrypt(enc('from the key-table cipher'), 'd:2026-12-04', aad);
  t.equal(dec(classic.decrypt(byTable, 'd:2026-12-04', aad)), 'from the key-table cipher');
  t.throws(() => table.decrypt(byTable, 'd:2026-12-04', bindRow('test-row', 'r2')), { name: 'PayloadTamperedError' }, 'bound to its row');
  t.throws(() => table.decrypt(byTable, 'consent', aad), { name: 'PayloadTamperedError' }, 'bound to its scope');
  t.throws(() => table.encrypt(enc('x'), 'd:never-prepared', aad), /prepare/);
  await t.rejects(openKeyTableCipher(sqliteDataKeyTable(db), { kek: { from: 'key', key: new Uint8Array(32).fill(8) } }), KekError);
  classic.close();
  table.close();
});

t.test('two nodes on one PostgreSQL sharing a KEK file read each other, make a key once, see a shred and a new KEK', async (t) => {
  const url = await server.newDatabase();
  const kek = kekFile(t);
  const node = async () => openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek });
  const a = await node();
  const b = await node();
  t.teardown(() => {
    a.close();
    b.close();
  });

  // a key made by one node after the other opened is fetched by prepare()
  await a.prepare(['consent']);
  const sealed = a.encrypt(enc('sealed on a'), 'consent', aad);
  t.throws(() => b.decrypt(sealed, 'consent', aad), DataKeyGoneError, 'not known to b before it prepares or refreshes');
  await b.prepare(['consent']);
  t.equal(dec(b.decrypt(sealed, 'consent', aad)), 'sealed on a');

  // both nodes making the same scope's key at once end with the one key
  await Promise.all([a.prepare(['d:2026-12-04']), b.prepare(['d:2026-12-04'])]);
  const onB = b.encrypt(enc('day row'), 'd:2026-12-04', aad);
  t.equal(dec(a.decrypt(onB, 'd:2026-12-04', aad)), 'day row');
  const peek = await pgPool(t, url);
  t.equal((await peek.query("SELECT count(*)::int AS n FROM crypto_data_keys WHERE scope = 'd:2026-12-04'")).rows[0].n, 1);

  // refresh() loads what others made
  await a.prepare(['d:2026-12-05']);
  await b.refresh();
  t.ok(b.loadedScopes().includes('d:2026-12-05'));

  // a shred on one node is seen by the other at its next refresh
  t.same(await a.shredScope('d:2026-12-04'), { existed: true });
  t.throws(() => a.decrypt(onB, 'd:2026-12-04', aad), DataKeyGoneError);
  t.equal(dec(b.decrypt(onB, 'd:2026-12-04', aad)), 'day row', 'still in b\'s memory until it refreshes');
  await b.refresh();
  t.throws(() => b.decrypt(onB, 'd:2026-12-04', aad), DataKeyGoneError);
  t.same(await b.scopes('d:'), [{ scope: 'd:2026-12-05', createdAt: (await b.scopes('d:2026-12-05'))[0]!.createdAt }]);

  // the synchronous shred of PayloadCipher reaches the table too
  b.shred('d:2026-12-05');
  await b.refresh();
  t.same((await a.scopes('d:')).length, 0);

  // a node with another KEK is refused; after a rotation the new KEK opens and the old does not
  await t.rejects(openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek: kekFile(t, 'other.key') }), KekError);
  const next = kekFile(t, 'next.key');
  await a.rotateKek(next);
  t.equal(dec(b.decrypt(sealed, 'consent', aad)), 'sealed on a', 'a node still running keeps its keys');
  const c = await openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek: next });
  t.teardown(() => c.close());
  t.equal(dec(c.decrypt(sealed, 'consent', aad)), 'sealed on a', 'a node opened with the new KEK reads the rows');
  await t.rejects(openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek }), KekError, 'the old KEK no longer opens');
});

t.test('no data key in clear in the database: only wrapped keys', async (t) => {
  const url = await server.newDatabase();
  const pool = await pgPool(t, url);
  const cipher = await openKeyTableCipher(await postgresDataKeyTable(pool), { kek: { from: 'key', key: new Uint8Array(32).fill(5) } });
  await cipher.prepare(['consent']);
  const ct = cipher.encrypt(enc('x'), 'consent', aad);
  // the data key cannot be read from its stored row without the KEK: opening the wrapped bytes as a key fails
  const { rows } = await pool.query<{ wrapped: Buffer; key_id: Buffer }>('SELECT key_id, wrapped FROM crypto_data_keys');
  t.equal(rows.length, 1);
  t.same(new Uint8Array(rows[0]!.key_id), ct.subarray(1, 17), 'the ciphertext names the stored key id');
  t.equal(rows[0]!.wrapped.length, 24 + 32 + 16, 'nonce, sealed 32-byte key, tag');
  cipher.close();
});

t.test('the key refresh makes tomorrow\'s day key ahead on every node, and loads what others made', async (t) => {
  const url = await server.newDatabase();
  const kek: KekSource = { from: 'key', key: new Uint8Array(32).fill(6) };
  const a = await openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek });
  const b = await openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek });
  const clock = () => new Date('2026-12-04T23:59:30Z');
  const errors: unknown[] = [];
  const ra = scheduleKeyRefresh(a, { clock, everyMs: 3_600_000, onError: (e) => errors.push(e) });
  await ra.runNow();
  t.same(a.loadedScopes(), ['d:2026-12-04', 'd:2026-12-05']);
  const tomorrow = a.encrypt(enc('first row of the day'), 'd:2026-12-05', aad);
  await a.prepare(['consent']);
  const rb = scheduleKeyRefresh(b, { clock, everyMs: 3_600_000, onError: (e) => errors.push(e) });
  await rb.runNow();
  t.same(b.loadedScopes(), ['consent', 'd:2026-12-04', 'd:2026-12-05'], 'the same keys, made once');
  t.equal(dec(b.decrypt(tomorrow, 'd:2026-12-05', aad)), 'first row of the day');
  ra.stop();
  rb.stop();
  t.same(errors, []);
  a.close();
  b.close();
});

t.test('copying keys refuses a target with another KEK, or with another key for a scope', async (t) => {
  const db = openDatabase(join(t.testdir({}), 'appliance.db'));
  t.teardown(() => db.close());
  const kek: KekSource = { from: 'key', key: new Uint8Array(32).fill(1) };
  const local = await openAtRestCipher(db, { kek });
  local.encrypt(enc('x'), 'consent', aad);
  local.close();
  const url = await server.newDatabase();
  const target = await postgresDataKeyTable(await pgPool(t, url));
  const clash = await openKeyTableCipher(target, { kek });
  await clash.prepare(['consent']);
  clash.close();
  await t.rejects(copyDataKeys(sqliteDataKeyTable(db), target), /scope consent already has another data key/);
  const fresh = await postgresDataKeyTable(await pgPool(t, await server.newDatabase()));
  await openKeyTableCipher(fresh, { kek: { from: 'key', key: new Uint8Array(32).fill(2) } }).then((c) => c.close());
  await t.rejects(copyDataKeys(sqliteDataKeyTable(db), fresh), KekError);
});

t.test('a passphrase KEK on PostgreSQL: the salt and cost are read back from the table by the next node', async (t) => {
  const url = await server.newDatabase();
  const src = (passphrase: string): KekSource => ({ from: 'passphrase', passphrase, opsLimit: 1, memLimitBytes: 8192 * 1024 });
  const a = await openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek: src('correct horse battery staple') });
  await a.prepare(['consent']);
  const sealed = a.encrypt(enc('under a passphrase'), 'consent', aad);
  a.close();
  const b = await openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek: src('correct horse battery staple') });
  t.equal(dec(b.decrypt(sealed, 'consent', aad)), 'under a passphrase');
  b.close();
  await t.rejects(openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek: src('wrong') }), KekError);
  await t.rejects(openKeyTableCipher(await postgresDataKeyTable(await pgPool(t, url)), { kek: { from: 'key', key: new Uint8Array(32) } }), /passphrase/);
});
