/**
 * The PostgreSQL queue store writing into the shared audit log: each change's entries are
 * appended inside the change's own transaction, so they commit together or not at all, and
 * the log they form verifies. An optional after-commit sink still hears every event.
 */
import t from 'tap';
import { auditEvents, PostgresAuditLog, verifyPostgresLog } from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { PostgresQueueStore } from '../../src/queue/postgres/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { makeWrite } from '../queue/store-suite.js';
import { makeSigner } from './helpers.js';

const server = await startPostgres(t);
const TOKEN = 'tok_abcdefghijklmnopqrstuv';

t.test('queue changes and their audit entries commit in one transaction', async (t) => {
  const url = await server.newDatabase();
  const signer = await makeSigner();
  const log = await PostgresAuditLog.open({ url, nodeId: 'gw-a', signer });
  const heard: AuditEvent[] = [];
  const store = await PostgresQueueStore.open({ url, nodeId: 'gw-a', quotaBytes: 1e9, heldRefreshMs: 0, auditLog: log, audit: { append: (e) => void heard.push(...e) } });
  t.teardown(async () => {
    await store.close();
    await log.close();
  });
  const item = { patientTokens: [TOKEN] };
  const events = async () => (await log.pool.query<{ event: string; message_id: string | null; node: string }>('SELECT event, message_id, node FROM audit_entries ORDER BY idx')).rows;

  await Promise.all(Array.from({ length: 20 }, (_, i) => store.accept(makeWrite({ id: `q-${i}`, items: [item] }))));
  let rows = await events();
  t.equal(rows.filter((r) => r.event === 'queued').length, 20, 'one queued entry per accepted message');
  t.ok(rows.every((r) => r.node === 'gw-a'), 'each names the node');

  await t.rejects(store.accept(makeWrite({ id: 'q-3', items: [item] })), /already queued/);
  t.equal((await events()).filter((r) => r.message_id === 'q-3').length, 1, 'a refused write adds no entry');

  // An event the log refuses rolls the whole change back: nothing queued, nothing logged.
  const bad = makeWrite({ id: 'q-bad', items: [item], audit: [{ event: 'queued', time: 'not a time', messageId: 'q-bad', destination: 'nhs-pk' } as AuditEvent] });
  await t.rejects(store.accept(bad), /time/);
  t.equal(await store.getMessage('q-bad'), undefined, 'the message was not stored');
  t.equal((await events()).filter((r) => r.message_id === 'q-bad').length, 0, 'and not logged');

  const claimed = await store.claim('nhs-pk', 10);
  await store.settle(claimed.map((c) => ({ kind: 'delivered' as const, id: c.id, status: 200 })));
  t.equal((await events()).filter((r) => r.event === 'delivered').length, 10, 'settlements are logged with them');
  t.equal(await store.withdrawForPatient([TOKEN], undefined, 'consent withdrawn'), 10);
  rows = await events();
  t.equal(rows.filter((r) => r.event === 'consent-withdrawn').length, 10, 'withdrawals are logged with them');
  t.same(
    heard.map((e) => e.event),
    rows.map((r) => r.event),
    'the after-commit sink heard the same events in the same order',
  );

  await log.signTreeHead();
  const v = await verifyPostgresLog(log, signer.publicKey);
  t.same(v.ok && v.size, rows.length, v.ok ? 'the shared log verifies' : v.reason);
});

t.test('two stores on one database share one log: entries from both nodes, one sequence', async (t) => {
  const url = await server.newDatabase();
  const signer = await makeSigner();
  const logA = await PostgresAuditLog.open({ url, nodeId: 'gw-a', signer });
  const logB = await PostgresAuditLog.open({ url, nodeId: 'gw-b', signer });
  const a = await PostgresQueueStore.open({ url, nodeId: 'gw-a', quotaBytes: 1e9, heldRefreshMs: 0, auditLog: logA });
  const b = await PostgresQueueStore.open({ url, nodeId: 'gw-b', quotaBytes: 1e9, heldRefreshMs: 0, auditLog: logB });
  t.teardown(async () => {
    await a.close();
    await b.close();
    await logA.close();
    await logB.close();
  });
  await Promise.all(
    Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).accept(makeWrite({ id: `s-${i}`, items: [{ patientTokens: [TOKEN] }], audit: [auditEvents.queued({ time: new Date(), messageId: `s-${i}`, destination: 'nhs-pk' })] }))),
  );
  const rows = (await logA.pool.query<{ idx: string; node: string; message_id: string }>('SELECT idx, node, message_id FROM audit_entries ORDER BY idx')).rows;
  t.same(rows.map((r) => Number(r.idx)), rows.map((_, i) => i), 'one gap-free sequence');
  t.same(
    rows.map((r) => r.node),
    rows.map((r) => (Number(r.message_id.slice(2)) % 2 ? 'gw-a' : 'gw-b')),
    'each entry names the node that accepted the message',
  );
  await logB.signTreeHead();
  const v = await verifyPostgresLog(logA, signer.publicKey);
  t.same(v.ok && v.size, 60, v.ok ? 'verifies' : v.reason);
});
