// The shared audit suite (log-suite.ts) against PostgresAuditLog on a throwaway cluster (a fresh database per test).
import t from 'tap';
import pg from 'pg';
import { exportPostgresLog, PostgresAuditLog, verifyPostgresLog } from '../../src/audit/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { auditSuite } from './log-suite.js';

const server = await startPostgres(t);

auditSuite(t, async (t, { signer, clock }) => {
  const url = await server.newDatabase();
  const log = await PostgresAuditLog.open({ url, nodeId: 'node-a', signer, clock });
  // A superuser's connection with triggers off: what an attacker holding the database can do.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query("SET session_replication_role = 'replica'");
  t.teardown(async () => {
    await log.close();
    await admin.end();
  });
  return {
    log,
    node: 'node-a',
    verify: (key) => verifyPostgresLog(log, key),
    exportTo: (opts) => exportPostgresLog(log, opts),
    tamperEntry: async (i, edit) => {
      const text = (await admin.query<{ entry: string }>('SELECT entry FROM audit_entries WHERE idx = $1', [i])).rows[0]!.entry;
      await admin.query('UPDATE audit_entries SET entry = $1 WHERE idx = $2', [edit(text), i]);
    },
    truncate: async (keep) => {
      await admin.query('DELETE FROM audit_entries WHERE idx >= $1', [keep]);
      await admin.query('DELETE FROM audit_nodes WHERE level = 0 AND idx >= $1', [keep]);
    },
  };
});

t.test('the append-only triggers refuse UPDATE and DELETE from an ordinary session', async (t) => {
  const url = await server.newDatabase();
  const log = await PostgresAuditLog.open({ url, nodeId: 'node-a' });
  t.teardown(() => log.close());
  await log.append([{ event: 'admin-action', time: new Date().toISOString(), actor: 'cli', reason: 'test' }]);
  await t.rejects(log.pool.query("UPDATE audit_entries SET event = 'x'"), /append-only/);
  await t.rejects(log.pool.query('DELETE FROM audit_entries'), /append-only/);
  t.equal(await log.size(), 1);
});

t.test('an append inside a transaction that rolls back leaves no entry and no gap', async (t) => {
  const url = await server.newDatabase();
  const log = await PostgresAuditLog.open({ url, nodeId: 'node-a' });
  t.teardown(() => log.close());
  const ev = () => ({ event: 'admin-action' as const, time: new Date().toISOString(), actor: 'cli', reason: 'test' });
  await log.append([ev(), ev()]);
  await t.rejects(
    log.inTx(async (q) => {
      await log.append([ev(), ev(), ev()], q);
      throw new Error('the change failed');
    }),
    /the change failed/,
  );
  t.equal(await log.size(), 2);
  t.equal(await log.append([ev()]), 2, 'the next append takes the next index');
  await t.rejects(log.append([{ event: 'admin-action', time: 'yesterday' } as never]), /time/, 'an invalid event is refused naming the field');
  t.equal(await log.size(), 3);
});
