/**
 * A pair on one PostgreSQL, failing over: two real gateway processes (the bundled CLI), 16
 * concurrent HTTP senders spread over both, one receiver (the upstream simulator) in another
 * process. Ten times, one node chosen at random is SIGKILLed at a random moment while the
 * senders run; the survivor carries on, and the killed node is restarted for the next round.
 * Every message either node acknowledged (202) must reach the receiver, each id once after its
 * de-duplication; the survivor must take over the singletons (it signs the next tree head); the
 * shared log must verify with every head consistent with the last.
 */
import t from 'tap';
import { join } from 'node:path';
import pg from 'pg';
import { runCli, waitFor } from '../helpers/processes.js';
import { deliveredOnce, loadPair, pairOf, registerPatient } from '../helpers/pair.js';
import { startPostgres } from '../helpers/postgres.js';
import { sleep } from '../helpers/net.js';
import { DEFAULT_LEADER_LOCK } from '../../src/queue/postgres/index.js';

const KILLS = 10;
const SENDERS = 16;
const server = await startPostgres(t);


t.test('two gateways, 16 senders, ten SIGKILLs of either node: every 202 delivered once, the singletons taken over, the log consistent', async (t) => {
  const url = await server.newDatabase();
  const { a, b, nodes, start } = await pairOf(t, url);

  await registerPatient(b, 'p-pair');

  const db = new pg.Client({ connectionString: url });
  await db.connect();
  db.on('error', () => {});
  t.teardown(() => db.end().catch(() => {}));
  // The node holding the leader lock, by its connection's name (darwaza-<nodeId>).
  const leaderNow = async () =>
    (
      await db.query<{ name: string }>(
        "SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1",
        [DEFAULT_LEADER_LOCK],
      )
    ).rows[0]?.name.replace(/^darwaza-/, '');
  const leaderHeads = async () => (await db.query<{ node: string; tree_size: number }>('SELECT node, tree_size::int FROM audit_tree_heads ORDER BY id')).rows;

  const acked = new Set<string>();
  const other: number[] = [];
  let unavailable = 0;
  let takeovers = 0;
  for (let round = 0; round < KILLS; round++) {
    for (const n of nodes) if (!n.running) await start(n);
    const load = loadPair(nodes, { senders: SENDERS, patient: 'p-pair', seed: round * 100_000, onConnectionError: 'stop' });
    await sleep(300 + Math.floor(Math.random() * 900));
    // Even rounds kill the node that leads (so take-overs are tested every time), odd rounds either.
    const leader = await waitFor(leaderNow, { timeoutMs: 30_000, what: 'a leader' });
    const victim = round % 2 === 0 ? nodes.find((n) => n.name === leader)! : nodes[Math.floor(Math.random() * 2)]!;
    const survivor = victim === a ? b : a;
    const headsBefore = (await leaderHeads()).length;
    await victim.running!.kill('SIGKILL');
    victim.running = undefined;
    // The survivor carries the load alone for a while: long enough to take the lock (retried every 2 s).
    await sleep(3000);
    await load.stop();
    for (const id of load.acked) acked.add(id);
    other.push(...load.other);
    unavailable += load.unavailable;
    if (victim.name !== leader) continue;
    // The leader died: the survivor takes the lock and signs the next head (the log grew meanwhile).
    const signed = await waitFor(async () => (await leaderHeads()).slice(headsBefore).find((h) => h.node === survivor.name), {
      timeoutMs: 60_000,
      what: `a tree head signed by the survivor ${survivor.name} (round ${round})`,
    }).catch(() => undefined);
    if (signed) takeovers++;
    t.ok(signed, `round ${round}: the leader ${victim.name} was killed; ${survivor.name} signed the next head`);
    t.equal(await waitFor(leaderNow, { timeoutMs: 30_000, what: 'a leader' }), survivor.name, 'and holds the leader lock');
  }
  t.ok(acked.size >= KILLS * 10, `load was real: ${acked.size} messages acknowledged`);
  t.same(other, [], 'no message was refused or denied');
  t.equal(unavailable, 0, 'no 503: the database stayed up');

  for (const n of nodes) if (!n.running) await start(n);
  const { missing, duplicates } = await deliveredOnce(a.ports.sim, acked);
  t.same(missing, [], 'nothing either node acknowledged was lost');
  t.equal(duplicates, 0, 'each id once at the receiver, after its de-duplication');

  // Every head consistent with the last, every entry under the verified log.
  for (const n of nodes) await n.running?.kill('SIGTERM');
  const verify = runCli(['audit', 'verify', '--config', join(a.dir, 'gateway.config.json'), '--json']);
  const verdict = JSON.parse(verify.stdout || '{}') as { ok?: boolean; heads?: number; size?: number; reason?: string };
  t.ok(verdict.ok, `the shared log verifies: ${verify.stdout.slice(0, 300)} ${verify.stderr.slice(0, 300)}`);
  const heads = await leaderHeads();
  t.ok(new Set(heads.map((h) => h.node)).size === 2, `both nodes signed heads over the rounds (${heads.length} heads)`);
  t.ok(takeovers >= KILLS / 2, `the leader was killed and replaced ${takeovers} times`);
  t.comment(`acknowledged ${acked.size}, delivered ${acked.size - missing.length}, ${takeovers} take-overs, ${heads.length} signed heads`);
});

t.test('PostgreSQL restarted under load: 503 with Retry-After while it is down, then both nodes carry on, nothing acknowledged lost', async (t) => {
  const { a, b, nodes } = await pairOf(t, await server.newDatabase());
  await registerPatient(a, 'p-restart');
  const load = loadPair(nodes, { senders: SENDERS, patient: 'p-restart', onConnectionError: 'count' });
  await sleep(1500);
  const before = load.acked.size;
  const parts = server.restartParts();
  await parts.stop();
  await sleep(3000);
  await parts.start();
  // The nodes reconnect by themselves; the load goes on until each has acknowledged again.
  await waitFor(() => load.acked.size > before + 50 || undefined, { timeoutMs: 60_000, what: 'acknowledgements after the restart' });
  await sleep(1000);
  await load.stop();

  t.ok(load.unavailable > 0, `requests while it was down were answered 503 (${load.unavailable})`);
  t.equal(load.withoutRetryAfter, 0, 'each with Retry-After');
  t.same(load.other, [], 'no other answer (no 500, nothing denied, no connection dropped)');
  const { missing, duplicates } = await deliveredOnce(a.ports.sim, load.acked);
  t.same(missing, [], `nothing acknowledged was lost (${load.acked.size} acknowledged, ${before} before the restart)`);
  t.equal(duplicates, 0, 'each id once at the receiver');
  for (const n of [a, b]) t.ok(n.running?.proc.exitCode === null, `${n.name} kept running through the restart`);
});
