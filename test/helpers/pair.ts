/**
 * A pair of real gateway processes (the bundled CLI) on one PostgreSQL database: two folders
 * made by `darwaza init`, the second with the first's certs folder (docs/ha.md), both
 * delivering to one receiver (the upstream simulator, in its own process), both started.
 */
import type { Test } from 'tap';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitFor, type Ports, type Running } from './processes.js';
import { sleep } from './net.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

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


const postJson = (n: PairNode, path: string, body: unknown) =>
  fetch(`http://127.0.0.1:${n.ports.lan}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body: JSON.stringify(body) });

/** The patient (so the age is known) and a consent permitting treatment disclosures, through the first node. */
export async function registerPatient(n: PairNode, patient: string): Promise<void> {
  const p = await postJson(n, '/fhir/Patient', patientFor(patient));
  if (p.status !== 202) throw new Error(`patient refused: ${p.status}`);
  const c = await postJson(n, '/fhir/Consent', consentFor(patient));
  if (c.status !== 201) throw new Error(`consent refused: ${c.status}`);
}

export interface PairLoad {
  /** Message ids a node acknowledged (202, queued). */
  acked: Set<string>;
  /** 503 answers (the database unreachable), and those of them without Retry-After. */
  unavailable: number;
  withoutRetryAfter: number;
  /** Any other answer's status; 0 for a connection that failed while `onConnectionError` is 'count'. */
  other: number[];
  stop(): Promise<void>;
}

/**
 * `senders` concurrent HTTP senders spread over the nodes, posting Observations of `patient`
 * until stopped. A connection that fails ends its sender ('stop': its node was killed, so it
 * promised nothing) or is counted in `other` ('count': the nodes must stay up).
 */
export function loadPair(nodes: PairNode[], opts: { senders: number; patient: string; seed?: number; onConnectionError: 'stop' | 'count' }): PairLoad {
  const load: PairLoad = { acked: new Set(), unavailable: 0, withoutRetryAfter: 0, other: [], stop: async () => {} };
  let sending = true;
  const senders = Array.from({ length: opts.senders }, async (_, s) => {
    const n = nodes[s % nodes.length]!;
    for (let i = 0; sending; i++) {
      const r = await postJson(n, '/fhir/Observation', observation(opts.patient, (opts.seed ?? 0) + s * 1000 + i)).catch(() => undefined);
      if (!r) {
        if (opts.onConnectionError === 'stop') return;
        load.other.push(0);
        continue;
      }
      if (r.status === 202) {
        const body = (await r.json()) as { id: string; destinations: { decision: string }[] };
        if (body.destinations[0]?.decision === 'queued') load.acked.add(body.id);
        else load.other.push(r.status);
      } else {
        await r.arrayBuffer();
        if (r.status === 503) {
          load.unavailable++;
          if (!(Number(r.headers.get('retry-after')) > 0)) load.withoutRetryAfter++;
          await sleep(100);
        } else load.other.push(r.status);
      }
    }
  });
  load.stop = async () => {
    sending = false;
    await Promise.all(senders);
  };
  return load;
}

/** Waits (up to 2 minutes) until the receiver has every acknowledged id; returns the missing ones and the duplicates it recorded. */
export async function deliveredOnce(simPort: number, acked: ReadonlySet<string>): Promise<{ missing: string[]; duplicates: number }> {
  let last = await simReceived(simPort);
  await waitFor(
    async () => {
      last = await simReceived(simPort);
      return [...acked].every((id) => last.ids.includes(id)) || undefined;
    },
    { timeoutMs: 120_000, what: 'every acknowledged message delivered' },
  ).catch(() => undefined);
  const seen = new Set(last.ids);
  return { missing: [...acked].filter((id) => !seen.has(id)), duplicates: last.ids.length - seen.size };
}
