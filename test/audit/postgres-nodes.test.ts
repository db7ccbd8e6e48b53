/**
 * One PostgreSQL audit log written by several gateways, with real child processes: two nodes
 * appending at once (some of their transactions rolled back) leave gap-free indices in commit
 * order, each entry naming its node, and a log that verifies; a node SIGKILLed while appending
 * leaves a log that still verifies and does not stop the other; a queue node SIGKILLed while
 * accepting leaves exactly one entry per stored message and none for any other; only the leader signs tree
 * heads, and when it is SIGKILLed another node signs the next one, consistent with the last.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PostgresAuditLog, verifyConsistency, verifyPostgresLog, type SignedTreeHead } from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { waitFor } from '../helpers/net.js';
import { startPostgres } from '../helpers/postgres.js';
import { makeSigner } from './helpers.js';

const server = await startPostgres(t);
const ROOT = process.cwd();
const src = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, p)).href);

// A gateway node reduced to its audit log: appends batches (some rolled back), appends until
// killed, or competes for the leader lock and signs heads while it leads.
const CHILD = `
import { PostgresAuditLog, scheduleLeaderTreeHeads } from ${src('src/audit/index.ts')};
import { LeaderElection, PostgresQueueStore } from ${src('src/queue/postgres/index.ts')};
import { getSodium } from ${src('src/crypto/sodium.ts')};
const [url, nodeId, mode, arg] = process.argv.slice(2);
const out = (s) => process.stdout.write(s + '\\n');
const sodium = await getSodium();
const sk = Buffer.from(process.env.AUDIT_SK, 'hex');
const signer = { keyId: 'pair-key', publicKey: Buffer.from(process.env.AUDIT_PK, 'hex'), sign: (b) => sodium.crypto_sign_detached(b, sk) };
const log = await PostgresAuditLog.open({ url, nodeId, signer });
const events = (i, n) => Array.from({ length: n }, (_, k) => ({ event: 'delivered', time: new Date().toISOString(), messageId: nodeId + '-' + i + '-' + k, destination: 'nhs-pk', decision: 'delivered', reason: 'ok' }));
if (mode === 'append') {
  for (let i = 0; i < Number(arg); i++) {
    if (i % 4 === 3) {
      await log.inTx(async (q) => { await log.append(events(i, 3), q); throw new Error('rolled back'); }).catch(() => out('R ' + i));
    } else {
      const first = await log.append(events(i, 3));
      out('A ' + i + ' ' + first);
    }
  }
  await log.close();
  out('DONE');
} else if (mode === 'forever') {
  for (let i = 0; ; i++) {
    const first = await log.append(events(i, 20));
    out('A ' + i + ' ' + first);
  }
} else if (mode === 'queue') {
  // A gateway's ingest: 16 concurrent accepts at a time, each with its audit event, into the shared log.
  const store = await PostgresQueueStore.open({ url, nodeId, quotaBytes: 1e12, heldRefreshMs: 0, auditLog: log });
  const write = (id) => ({
    message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
    items: [{ messageId: id, destination: 'nhs-pk', lane: 'normal', payload: Buffer.from('sealed ' + id), contentType: 'application/json', cipherScope: 'd:1', patientTokens: ['tok_abcdefghijklmnopqrstuv'], context: '{}' }],
    audit: [{ event: 'queued', time: new Date().toISOString(), messageId: id, destination: 'nhs-pk' }],
  });
  for (let i = 0; ; i += 16) {
    await Promise.all(Array.from({ length: 16 }, (_, k) => store.accept(write(nodeId + '-' + (i + k))).then(() => out('OK ' + nodeId + '-' + (i + k)))));
  }
} else if (mode === 'leader') {
  const leader = new LeaderElection({ url, intervalMs: 200, onChange: (v) => out('L ' + v) });
  await leader.start();
  scheduleLeaderTreeHeads({ log, leader, everyMs: 300, checkMs: 100, onSigned: (h) => out('H ' + h.treeSize), onError: (e) => out('E ' + e.message) });
  setInterval(() => {}, 1000);
}
`;

const SCRIPT = join(mkdtempSync(join(tmpdir(), 'darwaza-pg-audit-')), 'node.mts');
writeFileSync(SCRIPT, CHILD);
t.teardown(() => rmSync(dirname(SCRIPT), { recursive: true, force: true }));

const signer = await makeSigner('pair-key');
const KEYS = { AUDIT_SK: Buffer.from(signer.privateKey).toString('hex'), AUDIT_PK: Buffer.from(signer.publicKey).toString('hex') };

interface Node {
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function node(t: Test, url: string, nodeId: string, mode: string, arg = ''): Node {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, url, nodeId, mode, arg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...KEYS } });
  const lines: string[] = [];
  let buf = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code) t.comment(`node ${nodeId} exited ${code}: ${stderr.slice(0, 800)}`);
      resolve({ code, signal });
    }),
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, lines, exited };
}

const tagged = (lines: string[], tag: string) => lines.filter((l) => l.startsWith(`${tag} `)).map((l) => l.slice(tag.length + 1).split(' '));

async function allEntries(log: PostgresAuditLog) {
  const r = await log.pool.query<{ idx: string; node: string; message_id: string; entry: string }>('SELECT idx, node, message_id, entry FROM audit_entries ORDER BY idx');
  return r.rows.map((x) => ({ idx: Number(x.idx), node: x.node, messageId: x.message_id, entry: JSON.parse(x.entry) as { node: string } }));
}

t.test('two nodes appending at once: gap-free indices in commit order, each entry names its node, the log verifies', async (t) => {
  const url = await server.newDatabase();
  const log = await PostgresAuditLog.open({ url, nodeId: 'checker', signer });
  t.teardown(() => log.close());
  const a = node(t, url, 'node-a', 'append', '40');
  const b = node(t, url, 'node-b', 'append', '40');
  const [ea, eb] = await Promise.all([a.exited, b.exited]);
  t.same([ea.code, eb.code], [0, 0], 'both nodes finished');
  const rows = await allEntries(log);
  t.same(rows.map((r) => r.idx), rows.map((_, i) => i), 'indices 0..n-1 with no gap');
  t.equal(rows.length, 2 * 30 * 3, 'every committed batch, no rolled-back one');
  for (const n of [a, b]) {
    const nodeId = n === a ? 'node-a' : 'node-b';
    const mine = rows.filter((r) => r.node === nodeId);
    t.equal(mine.length, 90, `${nodeId}: 30 batches of 3`);
    t.ok(mine.every((r) => r.entry.node === nodeId && r.messageId.startsWith(`${nodeId}-`)), `${nodeId}: every entry names it, in the hashed text`);
    const batches = mine.filter((_, k) => k % 3 === 0).map((r) => Number(r.messageId.split('-')[2]));
    t.same(batches, [...batches].sort((x, y) => x - y), `${nodeId}: batches in the order the node committed them`);
    t.notOk(rows.some((r) => tagged(n.lines, 'R').some(([i]) => r.messageId.startsWith(`${nodeId}-${i}-`))), `${nodeId}: nothing of a rolled-back batch`);
    for (const [i, first] of tagged(n.lines, 'A')) {
      t.equal(rows[Number(first)]!.messageId, `${nodeId}-${i}-0`, `${nodeId}: batch ${i} at the index append() returned`);
    }
  }
  const interleaved = rows.filter((r, i) => i > 0 && r.node !== rows[i - 1]!.node).length;
  t.comment(`the nodes' batches changed hands ${interleaved} times in the log`);
  await log.signTreeHead();
  const v = await verifyPostgresLog(log, signer.publicKey);
  t.same(v.ok && v.size, 180, v.ok ? 'the log verifies' : v.reason);
});

t.test('a node SIGKILLed while appending leaves a log that verifies, and the other node carries on', async (t) => {
  const url = await server.newDatabase();
  const log = await PostgresAuditLog.open({ url, nodeId: 'checker', signer });
  t.teardown(() => log.close());
  const doomed = node(t, url, 'doomed', 'forever');
  const steady = node(t, url, 'steady', 'append', '60');
  await waitFor(() => (tagged(doomed.lines, 'A').length >= 8 ? true : undefined), { timeoutMs: 120_000, what: 'the doomed node appending' });
  doomed.child.kill('SIGKILL');
  t.equal((await doomed.exited).signal, 'SIGKILL');
  t.equal((await steady.exited).code, 0, 'the other node finished its appends after the kill');
  const rows = await allEntries(log);
  t.same(rows.map((r) => r.idx), rows.map((_, i) => i), 'no gap where the killed transaction was');
  for (const [i, first] of tagged(doomed.lines, 'A')) t.equal(rows[Number(first)]?.messageId, `doomed-${i}-0`, `acknowledged batch ${i} is there`);
  t.equal(rows.filter((r) => r.node === 'doomed').length % 20, 0, 'the killed node left whole batches only');
  t.equal(rows.filter((r) => r.node === 'steady').length, 45 * 3);
  await log.signTreeHead();
  const v = await verifyPostgresLog(log, signer.publicKey);
  t.equal(v.ok, true, v.ok ? `the log verifies (${v.size} entries)` : v.reason);
});

t.test('only the leader signs heads; when it is SIGKILLed another node signs the next, consistent with the last', async (t) => {
  const url = await server.newDatabase();
  const log = await PostgresAuditLog.open({ url, nodeId: 'ingest', signer });
  t.teardown(() => log.close());
  const ev = (n: number): AuditEvent[] => Array.from({ length: n }, () => ({ event: 'received', time: new Date().toISOString(), source: 'ehr-main', reason: 'test' }) as AuditEvent);
  const n1 = node(t, url, 'gw-1', 'leader');
  const n2 = node(t, url, 'gw-2', 'leader');
  const leaderOf = () => [n1, n2].find((n) => tagged(n.lines, 'L').at(-1)?.[0] === 'true');
  const first = await waitFor(leaderOf, { timeoutMs: 120_000, what: 'a leader elected' });
  const other = first === n1 ? n2 : n1;
  await log.append(ev(10));
  await waitFor(() => (tagged(first.lines, 'H').some(([s]) => s === '10') ? true : undefined), { timeoutMs: 120_000, what: 'the leader signing size 10' });
  await log.append(ev(11));
  await waitFor(() => (tagged(first.lines, 'H').some(([s]) => s === '21') ? true : undefined), { timeoutMs: 120_000, what: 'the leader signing size 21' });
  t.same(tagged(other.lines, 'H'), [], 'the follower signed nothing while the leader lived');
  const before = (await log.latestHead())!;
  t.equal(before.treeSize, 21);

  first.child.kill('SIGKILL');
  t.equal((await first.exited).signal, 'SIGKILL');
  await log.append(ev(7));
  // Bounded: the lock is freed when PostgreSQL sees the connection gone; the follower tries every 200 ms.
  await waitFor(() => (tagged(other.lines, 'H').some(([s]) => s === '28') ? true : undefined), { timeoutMs: 120_000, what: 'the survivor signing size 28' });
  t.equal(tagged(other.lines, 'L').at(-1)?.[0], 'true', 'the survivor leads');
  const after = (await log.latestHead())!;
  t.equal(after.treeSize, 28);
  t.ok(after.timestamp >= before.timestamp, 'time moves forward across the handover');
  const path = await log.consistencyProof(21, 28);
  t.ok(verifyConsistency(21, 28, path, Buffer.from(before.rootHash, 'hex'), Buffer.from(after.rootHash, 'hex')), 'the head before the kill is a prefix of the head after');
  const signers = await log.headSigners();
  const nameOf = (n: Node) => (n === n1 ? 'gw-1' : 'gw-2');
  t.same(new Set(signers.map((s) => s.node)), new Set([nameOf(first), nameOf(other)]), 'heads were signed by the old leader, then the new one');
  const heads: SignedTreeHead[] = await log.heads();
  t.same(heads.map((h) => h.treeSize), [10, 21, 28]);
  const v = await verifyPostgresLog(log, signer.publicKey);
  t.same(v.ok && [v.size, v.heads, v.unsignedTail], [28, 3, 0], v.ok ? 'the log verifies' : v.reason);
  t.same(tagged(other.lines, 'E'), [], 'no signing errors');
});

t.test('a queue node SIGKILLed while accepting: every stored message has its one entry, and no entry lacks its message', async (t) => {
  const url = await server.newDatabase();
  const log = await PostgresAuditLog.open({ url, nodeId: 'checker', signer });
  t.teardown(() => log.close());
  const doomed = node(t, url, 'gw-k', 'queue');
  await waitFor(() => (tagged(doomed.lines, 'OK').length >= 200 ? true : undefined), { timeoutMs: 120_000, what: 'the node accepting' });
  doomed.child.kill('SIGKILL');
  t.equal((await doomed.exited).signal, 'SIGKILL');
  const stored = new Set((await log.pool.query<{ id: string }>('SELECT id FROM queue_messages')).rows.map((r) => r.id));
  const logged = (await allEntries(log)).map((r) => r.messageId);
  t.equal(new Set(logged).size, logged.length, 'one entry per message');
  t.same(new Set(logged), stored, 'the entries name exactly the stored messages');
  for (const [id] of tagged(doomed.lines, 'OK')) t.ok(stored.has(id!), `acknowledged ${id} is stored`);
  t.comment(`${stored.size} messages stored, ${tagged(doomed.lines, 'OK').length} acknowledged before the kill`);
  await log.signTreeHead();
  const v = await verifyPostgresLog(log, signer.publicKey);
  t.same(v.ok && v.size, stored.size, v.ok ? 'the log verifies' : v.reason);
});
