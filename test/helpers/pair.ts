/**
 * A pair of real gateway processes (the bundled CLI) on one PostgreSQL database: two folders
 * made by `darwaza init`, the second with the first's certs folder (docs/ha.md), both
 * delivering to one receiver (the upstream simulator, in its own process), both started.
 */
import type { Test } from 'tap';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDir, startGatewayProcess, startSimulatorProcess, type Ports, type Running } from './processes.js';

export interface PairNode {
  name: 'gw-a' | 'gw-b';
  dir: string;
  ports: Ports;
  running?: Running;
}
type Node = PairNode;

export async function pairOf(t: Test, url: string) {
  const base = t.testdir();
  const patch = (name: string) => (c: any) => {
    c.store = { kind: 'postgres', url, nodeId: name, leaseSeconds: 5 };
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 20, maxDelayMs: 200, maxAgeMs: 3_600_000 };
  };
  const a: Node = { name: 'gw-a', dir: join(base, 'a'), ...(await prepareDir(join(base, 'a'), patch('gw-a'))) };
  const b: Node = { name: 'gw-b', dir: join(base, 'b'), ...(await prepareDir(join(base, 'b'), patch('gw-b'))) };
  // One pair, one set of keys: the second node gets the first one's certs folder (docs/ha.md).
  rmSync(join(b.dir, 'certs'), { recursive: true, force: true });
  cpSync(join(a.dir, 'certs'), join(b.dir, 'certs'), { recursive: true });
  // Both deliver to the one receiver.
  const bConfig = JSON.parse(readFileSync(join(b.dir, 'gateway.config.json'), 'utf8'));
  for (const d of bConfig.destinations) d.url = d.url.replace(`127.0.0.1:${b.ports.sim}`, `127.0.0.1:${a.ports.sim}`);
  writeFileSync(join(b.dir, 'gateway.config.json'), JSON.stringify(bConfig, null, 2));
  const sim = await startSimulatorProcess(a.dir, a.ports.sim, { extraArgs: ['--certs', join(a.dir, 'certs')] });
  const nodes = [a, b];
  t.teardown(async () => {
    for (const n of nodes) await n.running?.kill('SIGKILL');
    await sim.kill();
  });
  const start = async (n: Node) => (n.running = await startGatewayProcess(n.dir));
  await start(a);
  await start(b);
  return { url, a, b, nodes, start };
}

