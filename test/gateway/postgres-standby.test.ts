/**
 * The documented deployment's worst case: the PostgreSQL primary is SIGKILLed under load and its
 * synchronous streaming standby is promoted. The pair reaches the database through one address
 * (here a TCP forwarder standing in for the floating address or Patroni's proxy), which moves to
 * the promoted standby. With synchronous_commit and a synchronous standby, every COMMIT the
 * gateways waited for was on the standby before they acknowledged: nothing acknowledged is lost.
 */
import t from 'tap';
import net from 'node:net';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { cliArgv, simReceived, waitFor } from '../helpers/processes.js';
import { pairOf, type PairNode } from '../helpers/pair.js';
import { startPostgres, startSynchronousStandby } from '../helpers/postgres.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { sleep } from '../helpers/net.js';

const SENDERS = 16;

/** A TCP forwarder whose target can move (a floating address); moving it drops the connections it holds. */
async function forwarder(target: number) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    moveTo(port: number) {
      target = port;
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((r) => (server.close(() => r()), [...sockets].forEach((s) => s.destroy()))),
  };
}

t.test('primary SIGKILLed, synchronous standby promoted, the address moved: every 202 delivered once, the log verifies', async (t) => {
  const primary = await startPostgres(t);
  const url = await primary.newDatabase();
  const standby = await startSynchronousStandby(t, primary);
  const address = await forwarder(primary.port);
  t.teardown(() => address.close());
  const via = url.replace(`:${primary.port}/`, `:${address.port}/`);
  const { a, nodes } = await pairOf(t, via);

  const postJson = (n: PairNode, path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${n.ports.lan}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body: JSON.stringify(body) });
  t.equal((await postJson(a, '/fhir/Patient', patientFor('p-standby'))).status, 202);
  t.equal((await postJson(a, '/fhir/Consent', consentFor('p-standby'))).status, 201);

  const acked = new Set<string>();
  const other: number[] = [];
  let unavailable = 0;
  let sending = true;
  const senders = Array.from({ length: SENDERS }, async (_, s) => {
    const n = nodes[s % 2]!;
    for (let i = 0; sending; i++) {
      const r = await postJson(n, '/fhir/Observation', observation('p-standby', s * 100_000 + i)).catch(() => undefined);
      if (!r) {
        other.push(0);
        continue;
      }
      if (r.status === 202) {
        const body = (await r.json()) as { id: string; destinations: { decision: string }[] };
        if (body.destinations[0]?.decision === 'queued') acked.add(body.id);
        else other.push(r.status);
      } else {
        await r.arrayBuffer();
        if (r.status === 503) {
          unavailable++;
          await sleep(100);
        } else other.push(r.status);
      }
    }
  });
  await sleep(1500);
  const beforeKill = acked.size;
  await primary.kill9();
  await standby.promote();
  address.moveTo(standby.port);
  await waitFor(() => acked.size > beforeKill + 50 || undefined, { timeoutMs: 90_000, what: 'acknowledgements from the promoted standby' });
  await sleep(1000);
  sending = false;
  await Promise.all(senders);

  t.ok(beforeKill > 0 && unavailable > 0, `load before the kill (${beforeKill} acknowledged), 503 while no primary answered (${unavailable})`);
  t.same(other, [], 'no other answer');
  let last = await simReceived(a.ports.sim);
  await waitFor(
    async () => {
      last = await simReceived(a.ports.sim);
      return [...acked].every((id) => last.ids.includes(id)) || undefined;
    },
    { timeoutMs: 120_000, what: 'every acknowledged message delivered' },
  ).catch(() => undefined);
  const seen = new Set(last.ids);
  t.same([...acked].filter((id) => !seen.has(id)), [], `nothing acknowledged was lost (${acked.size}, ${beforeKill} of them before the primary died)`);
  t.equal(last.ids.length, seen.size, 'each id once at the receiver');

  for (const n of nodes) await n.running?.kill('SIGTERM');
  // Asynchronously: the forwarder standing in for the address runs in this process.
  const [cmd, pre] = cliArgv();
  const verify = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
    execFile(cmd, [...pre, 'audit', 'verify', '--config', join(a.dir, 'gateway.config.json'), '--json'], { maxBuffer: 16 * 1024 * 1024 }, (_err, stdout, stderr) => resolve({ stdout, stderr })),
  );
  t.match(JSON.parse(verify.stdout || '{}'), { ok: true }, `the shared log verifies on the promoted standby: ${verify.stdout.slice(0, 200)} ${verify.stderr.slice(0, 200)}`);
});
