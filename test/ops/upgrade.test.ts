import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate, openDatabase, SCHEMA_VERSION, SchemaVersionError, schemaVersionOf, upgradeOf } from '../../src/store/index.js';
import { QUEUE_MIGRATIONS, SqliteQueueStore } from '../../src/queue/index.js';
import { runCli } from '../helpers/processes.js';
import { makeAppliance } from './fixture.js';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const maxVersion = (db: ReturnType<typeof openDatabase>, module: string) =>
  (db.prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE module = ?').get(module) as { v: number | null }).v;

t.test('--version prints the release and the schema version', async (t) => {
  const r = runCli(['--version']);
  t.equal(r.code, 0);
  t.match(r.stdout, new RegExp(`^\\d+\\.\\d+\\.\\d+.*\\nschema ${SCHEMA_VERSION}\\n$`));
});

t.test('a new database is stamped with the current schema version, without a copy', async (t) => {
  const dir = t.testdir();
  const db = openDatabase(join(dir, 'darwaza.db'));
  t.equal(schemaVersionOf(db), SCHEMA_VERSION);
  t.same(upgradeOf(db), { from: 0, to: SCHEMA_VERSION, backup: undefined });
  db.close();
  t.notOk(existsSync(join(dir, 'backups')));
});

t.test('an older database is copied aside first, then its migrations run forward', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'darwaza.db');
  // A database from before schema versions, whose queue tables are at their first version.
  const old = openDatabase(file);
  migrate(old, 'queue', QUEUE_MIGRATIONS.filter((m) => m.version === 1));
  old.prepare(`INSERT INTO queue_messages (id, received_at, source, purpose, format, outcomes) VALUES ('m-1', '2026-01-01T00:00:00Z', 's', 'TREAT', 'fhir', '[]')`).run();
  old.pragma('user_version = 0');
  old.close();

  const db = openDatabase(file);
  const up = upgradeOf(db);
  t.match(up, { from: 0, to: SCHEMA_VERSION, backup: /backups\/darwaza\.db\.schema-0\..+\.db$/ });
  t.equal(schemaVersionOf(db), SCHEMA_VERSION);
  void SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0 });
  t.equal(maxVersion(db, 'queue'), QUEUE_MIGRATIONS.length, 'the queue migrated forward');
  t.equal((db.prepare('SELECT queued_items FROM queue_messages').get() as { queued_items: number }).queued_items, 0, 'its data carried along');
  db.close();

  t.equal(readdirSync(join(dir, 'backups')).length, 1);
  const copy = openDatabase(up!.backup!, { readonly: true });
  t.equal(maxVersion(copy, 'queue'), 1, 'the copy holds the database as it was before');
  t.same(copy.prepare('SELECT id FROM queue_messages').pluck().all(), ['m-1']);
  copy.close();
  const again = openDatabase(file);
  t.equal(upgradeOf(again), undefined, 'no second copy at the next open');
  again.close();
});

t.test('an older binary refuses a newer database with a clear message, and changes nothing', async (t) => {
  const a = await makeAppliance(t.testdir());
  const file = join(a.dir, 'data', 'darwaza.db');
  const db = openDatabase(file);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  const before = sha(file);
  t.throws(() => openDatabase(file), SchemaVersionError);
  for (const args of [['audit', 'verify', '--data-dir', join(a.dir, 'data')], ['start', '--config', a.configFile, '--no-simulator']]) {
    const r = runCli(args, { cwd: a.dir });
    t.equal(r.code, 4, `${args[0]} refuses`);
    t.match(r.stderr, new RegExp(`has schema version ${SCHEMA_VERSION + 1}, but this darwaza knows schema versions up to ${SCHEMA_VERSION}: a newer darwaza wrote it`));
  }
  t.equal(sha(file), before, 'the database is untouched');
  t.notOk(existsSync(join(a.dir, 'data', 'backups')));
});

t.test('a module whose tables a newer binary migrated is refused too', async (t) => {
  const db = openDatabase(':memory:');
  migrate(db, 'queue', QUEUE_MIGRATIONS);
  db.prepare("INSERT INTO schema_migrations VALUES ('queue', 99, 'from the future', '2030-01-01')").run();
  t.throws(() => migrate(db, 'queue', QUEUE_MIGRATIONS), { name: 'SchemaVersionError', message: /"queue" tables are at version 99, but this darwaza knows up to 4/ });
  db.close();
});
