import t from 'tap';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, migrate } from '../../src/store/index.js';

t.test('a new database file is private, in WAL mode, and fsyncs every commit', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'dz-store-')), 'sub', 'g.db');
  const db = openDatabase(file);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL');
  db.close();
  const again = openDatabase(file);
  t.equal(again.pragma('synchronous', { simple: true }), 2, 'FULL again after reopen');
  again.close();
});

t.test('migrations run once each, in order, per module', async (t) => {
  const db = openDatabase(':memory:');
  const ran: number[] = [];
  const ms = [
    { version: 2, description: 'b', up: () => void ran.push(2) },
    { version: 1, description: 'a', up: (d: typeof db) => { ran.push(1); d.exec('CREATE TABLE x (a INTEGER) STRICT'); } },
  ];
  migrate(db, 'm', ms);
  migrate(db, 'm', ms);
  t.same(ran, [1, 2]);
  migrate(db, 'other', [{ version: 1, description: 'c', up: () => void ran.push(9) }]);
  t.same(ran, [1, 2, 9]);
});
