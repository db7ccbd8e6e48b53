/**
 * The consent ports' suite against the PostgreSQL stores on a real throwaway cluster (a fresh
 * database per test; a second node is a second pool with its own stores), and what only a
 * shared database has: writes of one consent from two nodes at once, bindings seen across
 * nodes, and no canary from a consent or a patient fact in any file of the cluster.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { copyDataKeys, openAtRestCipher, openKeyTableCipher, postgresDataKeyTable, sqliteDataKeyTable, type KekSource } from '../../src/crypto/index.js';
import { openDatabase } from '../../src/store/index.js';
import { ConsentRegistry, PatientMemory, copyConsentsFromSqlite } from '../../src/consent/index.js';
import { PostgresAuditLog, verifyPostgresLog } from '../../src/audit/index.js';
import { makeSigner } from '../audit/helpers.js';
import { postgresConsentStore, postgresPatientFacts, tokensForIds, type ConsentStore, type PatientFacts } from '../../src/consent/index.js';
import type { AuditEvent, PayloadCipher } from '../../src/model/index.js';
import { makeConsent, testCipher, tokenize } from '../fixtures/consents/make.js';
import { startPostgres } from '../helpers/postgres.js';
import { consentStoreSuite, type ConsentBackend } from './consent-store-suite.js';
import { filesUnder } from '../helpers/phi.js';

const server = await startPostgres(t);

async function pgNode(t: Test, url: string, cipher: PayloadCipher, events: AuditEvent[] = []): Promise<{ pool: pg.Pool; store: ConsentStore; facts: PatientFacts }> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {});
  const facts = await postgresPatientFacts(pool, { cipher });
  const store = await postgresConsentStore(pool, { tokenize, cipher, facts, audit: { append: (e) => void events.push(...e) } });
  t.teardown(async () => {
    store.close();
    await pool.end();
  });
  return { pool, store, facts };
}

const open: ConsentBackend = async (t) => {
  const url = await server.newDatabase();
  const cipher = testCipher();
  const events: AuditEvent[] = [];
  const first = await pgNode(t, url, cipher, events);
  const q = (sql: string, params: unknown[]) => first.pool.query(sql, params).then(() => undefined);
  return {
    store: first.store,
    facts: first.facts,
    events,
    second: () => pgNode(t, url, cipher, events),
    rawBlobs: async () =>
      (await first.pool.query<{ b: Buffer }>('SELECT resource AS b FROM consent_version UNION ALL SELECT value AS b FROM patient_memory')).rows.map((r) => r.b),
    tamperCurrentStatus: (id, status) => q('UPDATE consent_current SET status = $1 WHERE id = $2', [status, id]),
    tamperVersionStatus: (id, version, status) => q('UPDATE consent_version SET status = $1 WHERE id = $2 AND version = $3', [status, id, version]),
    tamperToken: (token, id) => q('INSERT INTO consent_token (token, id) VALUES ($1, $2)', [token, id]),
  };
};

consentStoreSuite(t, open);

t.test('two nodes writing one consent at once number its versions without a gap or a clash', async (t) => {
  const url = await server.newDatabase();
  const cipher = testCipher();
  const a = await pgNode(t, url, cipher);
  const b = await pgNode(t, url, cipher);
  await a.store.put(makeConsent({ id: 'busy' }));
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    const node = i % 2 ? a : b;
    writes.push(node.store.put(makeConsent({ id: 'busy', dateTime: `2026-01-01T09:00:${String(i + 1).padStart(2, '0')}+05:00` })));
  }
  await Promise.all(writes);
  t.same((await a.store.history('busy')).map((v) => v.version), Array.from({ length: 21 }, (_, i) => i + 1));
  t.equal((await b.store.get('busy'))!.version, 21);
});

t.test('a binding or an erasure made on one node is seen by the other at its next read', async (t) => {
  const url = await server.newDatabase();
  const cipher = testCipher();
  const a = await pgNode(t, url, cipher);
  const b = await pgNode(t, url, cipher);
  const strong = tokensForIds(['urn:oid:2.16.586.1.1|35202-1111111-1'], tokenize);
  const [weak] = tokensForIds(['Patient/9'], tokenize);
  t.equal(await b.facts.boundTo(weak!), undefined);
  await a.facts.bind(weak!, strong);
  await a.facts.rememberBirthDate(strong, '1950-02-03');
  t.same(await b.facts.boundTo(weak!), strong);
  t.equal(await b.facts.birthDate(strong), '1950-02-03');
  await b.facts.bind(weak!, tokensForIds(['urn:oid:2.16.586.1.1|35202-9999999-9'], tokenize));
  t.same(await a.facts.boundTo(weak!), strong, 'the first binding stays across nodes');
  t.equal(await b.facts.forget(strong), strong.length + 1, 'the birth date under each token and the binding');
  t.equal(await a.facts.boundTo(weak!), undefined);
  t.equal(await a.facts.birthDate(strong), undefined);
});


t.test('two nodes, each with its own cipher over the keys on the database and one KEK file: what one seals the other reads, and no canary is in any file of the cluster', async (t) => {
  const url = await server.newDatabase();
  const kekPath = join(t.testdir({}), 'kek.key');
  writeFileSync(kekPath, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const kek: KekSource = { from: 'file', path: kekPath };
  const realNode = async () => {
    const pool = new pg.Pool({ connectionString: url, max: 3 });
    pool.on('error', () => {});
    const cipher = await openKeyTableCipher(await postgresDataKeyTable(pool), { kek });
    const facts = await postgresPatientFacts(pool, { cipher });
    const store = await postgresConsentStore(pool, { tokenize, cipher, facts });
    t.teardown(async () => {
      store.close();
      cipher.close();
      await pool.end();
    });
    return { pool, store, facts };
  };
  const a = await realNode();
  const b = await realNode();
  const name = 'CANARYNAME-Zainab-Bibi-Qx7';
  const cnic = '35202-9876543-1';
  const mrn = 'CANARYMRN-4410112345671';
  const birthDate = '1931-07-19';
  for (let i = 0; i < 20; i++) {
    await (i % 2 ? a : b).store.put(
      makeConsent({
        id: `canary-${i}`,
        patient: { reference: `Patient/${mrn}-${i}`, display: name, identifier: { system: 'urn:oid:2.16.586.1.1', value: cnic } },
      }),
    );
  }
  await a.store.withdraw('canary-3', 'DELETE');
  const tokens = tokensForIds([`urn:oid:2.16.586.1.1|${cnic}`], tokenize);
  await a.facts.rememberBirthDate(tokens, birthDate);
  // read back on the other node, through its own cipher
  t.equal((await b.store.forTokens(tokens)).length, 20);
  t.equal((await b.store.get('canary-0'))!.resource.patient && ((await b.store.get('canary-0'))!.resource.patient as { display?: string }).display, name);
  t.equal(await b.facts.birthDate(tokens), birthDate);
  t.same(await b.facts.boundTo(tokensForIds([`Patient/${mrn}-1`], tokenize)[0]!), tokens, 'the weak id bound on the node that stored it');

  // Control, in the same cluster: a clear text row is found by the same search.
  // (its text must not contain a canary, or the canary would be found in it)
  const control = 'CONTROL-Qx7-plain-row-9183';
  await a.pool.query('CREATE TABLE canary_control (v TEXT)');
  await a.pool.query('INSERT INTO canary_control VALUES ($1)', [control]);
  await a.pool.query('CHECKPOINT');
  const files = filesUnder(join(server.dir, 'data'));
  t.ok(files.some((f) => f.includes('pg_wal')), 'the WAL is searched too');
  const holding = (needle: string) => files.filter((f) => readFileSync(f).includes(Buffer.from(needle)));
  t.ok(holding(control).length > 0, 'the search finds a clear canary');
  for (const needle of [name, cnic, mrn, birthDate]) t.same(holding(needle), [], `no file of the cluster holds ${needle.slice(0, 10)}…`);
});

t.test('while the database is down the stores answer StoreUnavailableError (503 + Retry-After), and carry on after it is back', async (t) => {
  const url = await server.newDatabase();
  const node = await pgNode(t, url, testCipher());
  await node.store.put(makeConsent({ id: 'up' }));
  const tokens = tokensForIds(['Patient/123'], tokenize);
  const parts = server.restartParts();
  await parts.stop();
  try {
    await t.rejects(node.store.forTokens(tokens), { name: 'StoreUnavailableError', retryAfterSeconds: 5 });
    await t.rejects(node.store.put(makeConsent({ id: 'down' })), { name: 'StoreUnavailableError' });
    await t.rejects(node.facts.birthDate(tokens), { name: 'StoreUnavailableError' });
  } finally {
    await parts.start();
  }
  t.equal((await node.store.forTokens(tokens)).length, 1, 'the pool reconnects by itself');
  t.equal((await node.store.put(makeConsent({ id: 'down' }))).version, 1);
});

t.test('an appliance\'s keys, consents and facts copied from SQLite read back on PostgreSQL under the same KEK', async (t) => {
  const kek: KekSource = { from: 'key', key: new Uint8Array(32).fill(4) };
  const db = openDatabase(join(t.testdir({}), 'appliance.db'));
  t.teardown(() => db.close());
  const sqliteCipher = await openAtRestCipher(db, { kek });
  const memory = PatientMemory.open(db, { cipher: sqliteCipher });
  const registry = ConsentRegistry.open(db, { tokenize, cipher: sqliteCipher, memory });
  const cnic = { system: 'urn:oid:2.16.586.1.1', value: '35202-1231231-3' };
  registry.put(makeConsent({ id: 'old', patient: { reference: 'Patient/5', identifier: cnic } }));
  registry.withdraw('old', 'DELETE');
  registry.put(makeConsent({ id: 'kept', patient: { reference: 'Patient/6' } }), { source: 'lab-a' });
  const strong = tokensForIds([`${cnic.system}|${cnic.value}`], tokenize);
  memory.rememberBirthDate(strong, '1944-04-04');
  memory.flush();

  const url = await server.newDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => {});
  t.teardown(() => pool.end());
  const table = await postgresDataKeyTable(pool);
  t.equal(await copyDataKeys(sqliteDataKeyTable(db), table), 2, 'the consent and patient-memory keys');
  const counts = await copyConsentsFromSqlite(db, pool);
  t.same(counts, { versions: 3, current: 2, tokens: 3, facts: counts.facts });
  t.ok(counts.facts >= 2, 'the birth date and the binding');
  t.same(await copyConsentsFromSqlite(db, pool), { versions: 0, current: 0, tokens: 0, facts: 0 }, 'a second run copies nothing again');
  t.equal(await copyDataKeys(sqliteDataKeyTable(db), table), 2, 'nor keys');
  const cipher = await openKeyTableCipher(table, { kek });
  t.teardown(() => cipher.close());
  const facts = await postgresPatientFacts(pool, { cipher });
  const store = await postgresConsentStore(pool, { tokenize, cipher, facts });
  t.same((await store.history('old')).map((v) => [v.version, v.status, v.reason ?? null]), [[1, 'active', null], [2, 'inactive', 'DELETE']]);
  t.same((await store.forTokens(strong)).map((c) => `${c.id}:${c.status}`), ['old:inactive']);
  t.same((await store.list({ patientIds: ['Patient/6'], source: 'lab-a' })).map((c) => c.id), ['kept']);
  t.equal(await facts.birthDate(strong), '1944-04-04');
  t.same(await facts.boundTo(tokensForIds(['Patient/5'], tokenize)[0]!), strong);
  t.same((await store.put(makeConsent({ id: 'kept', patient: { reference: 'Patient/6' }, provision: { type: 'deny' } }), { source: 'lab-a' })).version, 2, 'and carry on from there');
  sqliteCipher.close();
});

t.test('with the shared audit log, each stored version is logged inside its transaction, naming its node; a refused log entry stores nothing', async (t) => {
  const url = await server.newDatabase();
  const signer = await makeSigner();
  const cipher = testCipher();
  const open = async (nodeId: string, failAfterAppend = false) => {
    const pool = new pg.Pool({ connectionString: url, max: 3 });
    pool.on('error', () => {});
    const log = await PostgresAuditLog.open({ pool, nodeId, signer });
    const auditLog = failAfterAppend
      ? {
          append: async (events: AuditEvent[], tx?: Parameters<typeof log.append>[1]) => {
            await log.append(events, tx);
            throw new Error('the log refused the entry');
          },
        }
      : log;
    const store = await postgresConsentStore(pool, { tokenize, cipher, auditLog });
    t.teardown(async () => {
      store.close();
      await pool.end();
    });
    return { log, store, pool };
  };
  const a = await open('gw-a');
  const b = await open('gw-b');
  await a.store.put(makeConsent({ id: 'logged' }));
  await b.store.withdraw('logged', 'DELETE', 'clerk-1');
  await b.store.putMany([makeConsent({ id: 'm1' }), makeConsent({ id: 'm2' })]);
  const rows = async () => (await a.pool.query<{ event: string; node: string; entry: string }>('SELECT event, node, entry FROM audit_entries ORDER BY idx')).rows;
  t.same((await rows()).map((r) => [r.event, r.node]), [['admin-action', 'gw-a'], ['consent-withdrawn', 'gw-b'], ['admin-action', 'gw-b'], ['admin-action', 'gw-b']]);
  t.notMatch(JSON.stringify(await rows()), /Patient\/123/, 'no patient id in the log, only its token');

  const failing = await open('gw-c', true);
  await t.rejects(failing.store.put(makeConsent({ id: 'never' })), /refused/);
  t.equal(await a.store.get('never'), undefined, 'the consent was not stored');
  t.equal((await rows()).length, 4, 'and not logged');

  await a.log.signTreeHead();
  const v = await verifyPostgresLog(a.log, signer.publicKey);
  t.same(v.ok && v.size, 4, v.ok ? 'the shared log verifies' : v.reason);
});
