/**
 * The gateway on its two stores, measured in the same run from outside (autocannon, 64
 * connections, the bench's 2 KB Observation, every message queued and delivered to the
 * simulator in another process):
 *  - one gateway on SQLite (the embedded default);
 *  - one gateway on PostgreSQL (a throwaway local server, fsync on);
 *  - two gateways on that PostgreSQL, the connections split over both (a pair, active/active).
 * Ratios are against the SQLite gateway. On one 2-core machine both gateways and the database
 * share the cores, so the pair cannot show scaling here: it shows what the shared store costs.
 * On two machines each node brings its own CPU for the per-message work and pays one network
 * round trip per commit (README, "PostgreSQL").
 *
 *   BENCH_ONLY=pair npm run bench     (BENCH_RUNS, BENCH_SECONDS as for full)
 */
import autocannon from 'autocannon';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitFor, type Ports, type Running } from '../test/helpers/processes.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { consentFor, observation, patientFor } from './fixtures.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 64;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Load {
  rps: number;
  p50: number;
  p99: number;
  bad: number;
}

/** One load of SECONDS over the given gateways' LAN ports, the connections split evenly. */
async function load(lanPorts: number[], body: string): Promise<Load> {
  const per = CONNECTIONS / lanPorts.length;
  const rs = await Promise.all(
    lanPorts.map((port) =>
      autocannon({ url: `http://127.0.0.1:${port}/fhir/Observation`, method: 'POST', connections: per, duration: SECONDS, headers: { 'content-type': 'application/fhir+json' }, body }),
    ),
  );
  // Latencies of the split loads: the slower node's percentiles (the sender on it sees those).
  return {
    rps: rs.reduce((n, r) => n + r.requests.average, 0),
    p50: Math.max(...rs.map((r) => r.latency.p50)),
    p99: Math.max(...rs.map((r) => r.latency.p99)),
    bad: rs.reduce((n, r) => n + r.non2xx + r.errors, 0),
  };
}

async function post(port: number, path: string, body: unknown): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${path}: ${r.status} ${await r.text()}`);
}

interface Setup {
  dirs: string[];
  ports: Ports[];
}

/** Gateway folders: `n` nodes, SQLite when url is undefined; the second node gets the first's certs and receiver. */
async function setup(root: string, n: number, url?: string): Promise<Setup> {
  const dirs: string[] = [];
  const ports: Ports[] = [];
  for (let i = 0; i < n; i++) {
    const dir = join(root, `node-${i}`);
    const p = await prepareDir(dir, (c) => {
      c.destinations[0].concurrency = 32;
      if (url) c.store = { kind: 'postgres', url, nodeId: `bench-${i}` };
    });
    dirs.push(dir);
    ports.push(p.ports);
  }
  for (let i = 1; i < n; i++) {
    rmSync(join(dirs[i]!, 'certs'), { recursive: true, force: true });
    cpSync(join(dirs[0]!, 'certs'), join(dirs[i]!, 'certs'), { recursive: true });
    const file = join(dirs[i]!, 'gateway.config.json');
    const c = JSON.parse(readFileSync(file, 'utf8'));
    for (const d of c.destinations) d.url = d.url.replace(`127.0.0.1:${ports[i]!.sim}`, `127.0.0.1:${ports[0]!.sim}`);
    writeFileSync(file, JSON.stringify(c, null, 2));
  }
  return { dirs, ports };
}

/** Starts the setup's gateways and receiver, registers the patient and consent, measures RUNS loads. */
async function measure(s: Setup, body: string): Promise<Load & { delivered: number }> {
  const sim = await startSimulatorProcess(s.dirs[0]!, s.ports[0]!.sim, { extraArgs: ['--certs', join(s.dirs[0]!, 'certs')] });
  const gws: Running[] = [];
  try {
    for (const dir of s.dirs) gws.push(await startGatewayProcess(dir, { env: { ...process.env, DARWAZA_LOG_LEVEL: 'warn' } }));
    const lans = s.ports.map((p) => p.lan);
    await post(lans[0]!, '/fhir/Patient', patientFor('bench-patient-1'));
    await post(lans[0]!, '/fhir/Consent', consentFor('bench-patient-1'));
    // Warm (pool workers started, connections open), then measured.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${s.ports[0]!.admin}/readyz`)).ok || undefined, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 2500));
    await load(lans, body);
    const runs: Load[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await load(lans, body));
    const delivered = (await simReceived(s.ports[0]!.sim)).count;
    return { rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), bad: runs.reduce((n, r) => n + r.bad, 0), delivered };
  } finally {
    for (const g of gws) await g.kill('SIGTERM');
    await sim.kill();
  }
}

export async function run(): Promise<Record<string, string | number>> {
  const teardowns: (() => Promise<void> | void)[] = [];
  const fakeTest = { teardown: (fn: () => Promise<void> | void) => void teardowns.push(fn) } as unknown as Parameters<typeof startPostgres>[0];
  const root = mkdtempSync(join(tmpdir(), 'dz-bench-pair-'));
  const body = JSON.stringify(observation('bench-patient-1'));
  try {
    const sqlite = await measure(await setup(join(root, 'sqlite'), 1), body);
    const server = await startPostgres(fakeTest);
    const one = await measure(await setup(join(root, 'pg1'), 1, await server.newDatabase()), body);
    const two = await measure(await setup(join(root, 'pg2'), 2, await server.newDatabase()), body);
    const row = (name: string, l: Load & { delivered: number }) => ({
      [`pair.${name}.msg_per_s`]: Math.round(l.rps),
      [`pair.${name}.p50_ms`]: l.p50,
      [`pair.${name}.p99_ms`]: l.p99,
      [`pair.${name}.non2xx`]: l.bad,
      [`pair.${name}.delivered_by_end`]: l.delivered,
    });
    return {
      'pair.method': `autocannon, ${CONNECTIONS} connections (split over the nodes), ${SECONDS} s × ${RUNS} runs, medians; one 2-core machine for every process`,
      ...row('sqlite_one_gateway', sqlite),
      ...row('postgres_one_gateway', one),
      ...row('postgres_two_gateways', two),
      'pair.ratio.postgres_one_over_sqlite': +(one.rps / sqlite.rps).toFixed(2),
      'pair.ratio.postgres_two_over_sqlite': +(two.rps / sqlite.rps).toFixed(2),
      'pair.ratio.postgres_two_over_one': +(two.rps / one.rps).toFixed(2),
      'pair.note': 'both nodes and the database share 2 cores here: no scaling can show; see README "PostgreSQL"',
    };
  } finally {
    for (const fn of teardowns.reverse()) await fn();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.table(r));
}
