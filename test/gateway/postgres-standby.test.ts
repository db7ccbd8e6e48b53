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
import { cliArgv, waitFor } from '../helpers/processes.js';
import { deliveredOnce, loadPair, pairOf, registerPatient } from '../helpers/pair.js';
import { startPostgres, startSynchronousStandby } from '../helpers/postgres.js';
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

  await registerPatient(a, 'p-standby');
  const load = loadPair(nodes, { senders: SENDERS, patient: 'p-standby', onConnectionError: 'count' });
  await sleep(1500);
  const beforeKill = load.acked.size;
  await primary.kill9();
  await standby.promote();
  address.moveTo(standby.port);
  await waitFor(() => load.acked.size > beforeKill + 50 || undefined, { timeoutMs: 90_000, what: 'acknowledgements from the promoted standby' });
  await sleep(1000);
  await load.stop();

  t.ok(beforeKill > 0 && load.unavailable > 0, `load before the kill (${beforeKill} acknowledged), 503 while no primary answered (${load.unavailable})`);
  t.equal(load.withoutRetryAfter, 0, 'each 503 with Retry-After');
  t.same(load.other, [], 'no other answer');
  const { missing, duplicates } = await deliveredOnce(a.ports.sim, load.acked);
  t.same(missing, [], `nothing acknowledged was lost (${load.acked.size}, ${beforeKill} of them before the primary died)`);
  t.equal(duplicates, 0, 'each id once at the receiver');

  for (const n of nodes) await n.running?.kill('SIGTERM');
  // Asynchronously: the forwarder standing in for the address runs in this process.
  const [cmd, pre] = cliArgv();
  const verify = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
    execFile(cmd, [...pre, 'audit', 'verify', '--config', join(a.dir, 'gateway.config.json'), '--json'], { maxBuffer: 16 * 1024 * 1024 }, (_err, stdout, stderr) => resolve({ stdout, stderr })),
  );
  t.match(JSON.parse(verify.stdout || '{}'), { ok: true }, `the shared log verifies on the promoted standby: ${verify.stdout.slice(0, 200)} ${verify.stderr.slice(0, 200)}`);
});
