/**
 * PostgreSQL-only behaviour of the queue store, with real processes: two nodes claiming at
 * once never get the same row; a node killed with SIGKILL while holding leases loses them
 * once they expire and another node delivers its rows, each once; a database restart under
 * accept load rejects with a retryable 503 error while down and loses nothing acknowledged;
 * the leader lock moves to another node when its holder is killed.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { QuotaExceededError } from '../../src/queue/index.js';
import { LeaderElection, PostgresQueueStore, StoreUnavailableError } from '../../src/queue/postgres/index.js';
import { waitFor } from '../helpers/net.js';
import { startPostgres } from '../helpers/postgres.js';
import { makeWrite } from './store-suite.js';

const server = await startPostgres(t);
const ROOT = process.cwd();

// A gateway node reduced to its queue: claims and delivers (prints "C id" when claimed,
// "D id" once the delivery is settled), holds what it claimed, or competes for the leader lock.
const CHILD = `
import { PostgresQueueStore, LeaderElection } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/queue/postgres/index.ts')).href)};
const [url, nodeId, mode, arg] = process.argv.slice(2);
const out = (s) => process.stdout.write(s + '\\n');
if (mode === 'leader') {
  const l = new LeaderElection({ url, intervalMs: 200, onChange: (v) => out('L ' + v) });
  await l.start();
  setInterval(() => {}, 1000);
} else {
  const store = await PostgresQueueStore.open({ url, nodeId, quotaBytes: 1e12, leaseMs: 60_000 });
  if (mode === 'hold') {
    const rows = await store.claim('nhs-pk', Number(arg));
    for (const r of rows) out('C ' + r.messageId);
    out('HOLDING');
    setInterval(() => {}, 1000);
  } else {
    let idle = 0;
    while (idle < 3) {
      const rows = await store.claim('nhs-pk', 4);
      if (!rows.length) { idle++; await new Promise((r) => setTimeout(r, 50)); continue; }
      idle = 0;
      for (const r of rows) out('C ' + r.messageId);
      await store.settle(rows.map((r) => ({ kind: 'delivered', id: r.id, status: 200 })));
      for (const r of rows) out('D ' + r.messageId);
    }
    await store.close();
    out('DONE');
  }
}
`;

interface Node {
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

// Written once: t.testdir() would be emptied by a second call within one test.
const SCRIPT = join(mkdtempSync(join(tmpdir(), 'darwaza-pg-node-')), 'node.mts');
writeFileSync(SCRIPT, CHILD);
t.teardown(() => rmSync(dirname(SCRIPT), { recursive: true, force: true }));

function node(t: Test, url: string, nodeId: string, mode: string, arg = ''): Node {
  const script = SCRIPT;
  const child = spawn(process.execPath, ['--import', 'tsx', script, url, nodeId, mode, arg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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

const ids = (lines: string[], tag: string) => lines.filter((l) => l.startsWith(`${tag} `)).map((l) => l.slice(tag.length + 1));

t.test('two nodes claiming at once never get the same row, and deliver every row', async (t) => {
  const url = await server.newDatabase();
  const store = await PostgresQueueStore.open({ url, nodeId: 'ingest', quotaBytes: 1e12 });
  t.teardown(() => store.close());
  const all = Array.from({ length: 300 }, (_, i) => makeWrite({ id: `two-${i}` }));
  await Promise.all(all.map((w) => store.accept(w)));
  const a = node(t, url, 'a', 'claim');
  const b = node(t, url, 'b', 'claim');
  const [ea, eb] = await Promise.all([a.exited, b.exited]);
  t.same([ea.code, eb.code], [0, 0], 'both nodes finished');
  const claimed = [...ids(a.lines, 'C'), ...ids(b.lines, 'C')];
  t.equal(new Set(claimed).size, claimed.length, 'no row was claimed by both nodes');
  t.same(new Set([...ids(a.lines, 'D'), ...ids(b.lines, 'D')]), new Set(all.map((w) => w.message.id)), 'every row delivered');
  t.comment(`node a delivered ${ids(a.lines, 'D').length}, node b ${ids(b.lines, 'D').length}`);
  const counts = await store.counts();
  t.same(counts.map((c) => [c.state, c.count]), [['delivered', 300]]);
});

t.test('a node killed with SIGKILL loses its leases when they expire; another delivers its rows, each once', async (t) => {
  const url = await server.newDatabase();
  let shift = 0;
  const survivor = await PostgresQueueStore.open({ url, nodeId: 'survivor', quotaBytes: 1e12, clock: () => Date.now() + shift });
  t.teardown(() => survivor.close());
  const all = Array.from({ length: 40 }, (_, i) => makeWrite({ id: `lease-${i}` }));
  await Promise.all(all.map((w) => survivor.accept(w)));
  const doomed = node(t, url, 'doomed', 'hold', '15');
  await waitFor(() => (doomed.lines.includes('HOLDING') ? true : undefined), { timeoutMs: 60_000, what: 'the doomed node holding leases' });
  const held = ids(doomed.lines, 'C');
  t.equal(held.length, 15);
  doomed.child.kill('SIGKILL');
  t.equal((await doomed.exited).signal, 'SIGKILL');

  const delivered: string[] = [];
  const deliverAll = async () => {
    for (;;) {
      const rows = await survivor.claim('nhs-pk', 10);
      if (!rows.length) return;
      await survivor.settle(rows.map((r) => ({ kind: 'delivered' as const, id: r.id, status: 200 })));
      delivered.push(...rows.map((r) => r.messageId));
    }
  };
  await deliverAll();
  t.equal(delivered.length, 25, 'the rows nobody held');
  t.equal(await survivor.recoverInFlight(), 0, "start-up recovery frees only this node's own rows");
  t.equal(await survivor.reclaimExpiredLeases(), 0, 'leases still running are left alone');
  shift = 61_000;
  t.equal(await survivor.reclaimExpiredLeases(), 15, 'expired leases become ready again');
  await deliverAll();
  t.equal(delivered.length, 40);
  t.same(new Set(delivered), new Set(all.map((w) => w.message.id)), 'each row delivered exactly once');
  const attempts = (await survivor.list({ state: 'delivered', limit: 100 })).map((r) => r.attempts);
  t.ok(attempts.every((a) => a === 1), 'a lost lease does not count as an attempt');
});

t.test('a PostgreSQL restart under accept load: retryable 503 errors while down, nothing acknowledged lost', async (t) => {
  const url = await server.newDatabase();
  const store = await PostgresQueueStore.open({ url, nodeId: 'n', quotaBytes: 1e12, pool: { connectionTimeoutMillis: 2_000 } });
  t.teardown(() => store.close());
  const acked: string[] = [];
  const errors: Error[] = [];
  let stop = false;
  let k = 0;
  const writer = async () => {
    while (!stop) {
      const w = makeWrite({ id: `r-${k++}` });
      try {
        await store.accept(w);
        acked.push(w.message.id);
      } catch (err) {
        errors.push(err as Error);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const writers = Array.from({ length: 8 }, writer);
  await waitFor(() => (acked.length >= 200 ? true : undefined), { timeoutMs: 60_000, what: '200 acks before the restart' });
  const pg_ = server.restartParts();
  await pg_.stop();
  const errorsBefore = errors.length;
  await waitFor(() => (errors.length > errorsBefore + 5 ? true : undefined), { timeoutMs: 60_000, what: 'errors while down' });
  await pg_.start();
  const ackedAtStart = acked.length;
  await waitFor(() => (acked.length >= ackedAtStart + 200 ? true : undefined), { timeoutMs: 90_000, what: 'acks after the restart' });
  stop = true;
  await Promise.all(writers);

  const down = errors.slice(errorsBefore);
  t.ok(down.length > 0);
  t.ok(down.every((e) => e instanceof StoreUnavailableError), `every error while down is StoreUnavailableError (${[...new Set(down.map((e) => e.name))].join(', ')})`);
  const e = down[0] as StoreUnavailableError;
  t.ok(e instanceof QuotaExceededError, 'handled as the quota error: 503 + Retry-After');
  t.equal(e.status, 503);
  t.ok(e.retryAfterSeconds > 0);
  t.notMatch(e.message, /r-\d/, 'the error names no message');

  const check = new pg.Client({ connectionString: url });
  await check.connect();
  const stored = new Set((await check.query<{ id: string }>('SELECT id FROM queue_messages')).rows.map((r) => r.id));
  await check.end();
  const lost = acked.filter((id) => !stored.has(id));
  t.same(lost, [], `all ${acked.length} acknowledged messages are stored`);
});

t.test('the leader lock moves to another node when its holder is killed with SIGKILL', async (t) => {
  const holder = node(t, server.url, 'leader-a', 'leader');
  await waitFor(() => (holder.lines.includes('L true') ? true : undefined), { timeoutMs: 60_000, what: 'the first node leading' });
  const other = new LeaderElection({ url: server.url, intervalMs: 200 });
  t.teardown(() => other.stop());
  await other.start();
  t.notOk(other.isLeader(), 'one leader at a time');
  holder.child.kill('SIGKILL');
  await holder.exited;
  await waitFor(() => (other.isLeader() ? true : undefined), { timeoutMs: 60_000, what: 'takeover' });
  t.ok(other.isLeader(), 'the survivor took over');
  await other.stop();
  t.notOk(other.isLeader());
  const third = new LeaderElection({ url: server.url, intervalMs: 200 });
  t.teardown(() => third.stop());
  await third.start();
  t.ok(third.isLeader(), 'a lock given up on stop is free at once');
});
