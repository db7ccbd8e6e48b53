/**
 * The full path, measured from outside as a user would see it:
 *   - the real gateway (dist/darwaza.cjs start) in its own process, every message queued
 *     (a consent permits the bench patient, so nothing is denied) and delivered to the
 *     upstream simulator (darwaza upstream-sim) in a third process;
 *   - a bare Node server (parse the JSON, answer 202) in a fourth process, measured in the
 *     same run: the ceiling of this machine for the same load;
 *   - autocannon at 64 connections posting a ~2 KB Observation to /fhir/Observation;
 *   - p99 at half of the gateway's measured maximum rate: evenly paced and open-loop (bench/paced.ts, latency from
 *     each request's due time), and autocannon's overallRate beside it (per-second bursts);
 *   - HL7 v2 ORU^R01 over MLLP into the same gateway (16 connections, every message
 *     through the pipeline and queued): ACKed msg/s.
 * Figures are medians over BENCH_RUNS runs (default 3) of BENCH_SECONDS (default 5).
 * BENCH_CPU_PROF=dir starts the gateway with --cpu-prof into dir (the profile of the full path).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { CLI, prepareDir, startGatewayProcess, startSimulatorProcess, simReceived, type Running } from '../test/helpers/processes.js';
import { waitFor } from '../test/helpers/net.js';
import { loadHl7 } from '../test/fixtures/hl7v2/load.js';
import { observation, consentFor, patientFor } from './fixtures.js';
import { load as mllpLoad } from './mllp.js';
import { pacedLoad, type PacedResult } from './paced.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 64;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Load {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/** CPU ms (user + system) used so far by a process (all threads) and by its main thread (Linux /proc). */
function cpuMs(pid: number | undefined): { all: number; main: number } | undefined {
  if (!pid) return undefined;
  const read = (f: string) => {
    const fields = readFileSync(f, 'utf8').replace(/^.*\) /, '').split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
  };
  try {
    return { all: read(`/proc/${pid}/stat`), main: read(`/proc/${pid}/task/${pid}/stat`) };
  } catch {
    return undefined;
  }
}

async function http(url: string, body: string, rate?: number): Promise<Load> {
  const r = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { 'content-type': 'application/fhir+json' },
    body,
    ...(rate ? { overallRate: rate } : {}),
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

/** The baseline, in its own process (as the gateway is): parse JSON, answer 202. */
const BARE = `
const { createServer } = require('node:http');
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"id":"x"}');
  });
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

async function bareServer(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['-e', BARE], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/fhir/Observation`, proc };
}

/** The gateway under --cpu-prof (not allowed in NODE_OPTIONS, so spawned here). */
async function profiledGateway(dir: string, profDir: string, lanPort: number): Promise<Running> {
  const proc = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, CLI, 'start', '--config', join(dir, 'gateway.config.json'), '--no-simulator'], {
    cwd: dir,
    env: { ...process.env, DARWAZA_LOG_LEVEL: 'warn' },
    stdio: 'inherit',
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${lanPort}/messages/x`).catch(() => undefined)) ?? undefined, { timeoutMs: 30_000, what: 'gateway up' });
  return { proc, output: () => '', kill: async (signal = 'SIGTERM') => (proc.kill(signal), exited) };
}

/** A consent by CNIC that permits the ORU fixture's patient. */
const cnicConsent = {
  ...consentFor('unused'),
  patient: { identifier: { system: 'urn:oid:2.16.586.1.1', value: '35202-1234567-1' } },
};

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
}

export async function run(): Promise<Record<string, string | number>> {
  const body = JSON.stringify(observation('bench-patient-1'));
  const dir = mkdtempSync(join(tmpdir(), 'dz-bench-full-'));
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].concurrency = 32;
  });
  const sim = await startSimulatorProcess(dir, ports.sim);
  const prof = process.env.BENCH_CPU_PROF;
  const gw = prof ? await profiledGateway(dir, prof, ports.lan) : await startGatewayProcess(dir);
  const bare = await bareServer();
  const lan = `http://127.0.0.1:${ports.lan}`;
  try {
    // The Patient first, so the gateway knows the age (an unknown age is read as a minor's).
    const registered = await postJson(`${lan}/fhir/Patient`, patientFor('bench-patient-1'));
    if (registered.status !== 202) throw new Error(`patient post failed: ${registered.status}`);
    for (const consent of [consentFor('bench-patient-1'), cnicConsent]) {
      const r = await postJson(`${lan}/fhir/Consent`, consent);
      if (r.status >= 300) throw new Error(`consent post failed: ${r.status} ${await r.text()}`);
    }
    const probe = await fetch(`${lan}/fhir/Observation`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body });
    const answer = (await probe.json()) as { destinations: { decision: string }[] };
    if (answer.destinations?.[0]?.decision !== 'queued') throw new Error(`bench message not queued: ${JSON.stringify(answer)}`);

    // Measured warm: the pool's workers started (when the gateway has a pool), then a short warm-up load.
    await waitFor(
      async () => {
        const m = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text();
        const ready = /^darwaza_worker_pool_ready (\d+)/m.exec(m);
        return !ready || process.env.DARWAZA_POOL_SIZE === '0' || Number(ready[1]) >= 1 || undefined;
      },
      { timeoutMs: 120_000, what: 'pool workers ready' },
    );
    await autocannon({ url: `${lan}/fhir/Observation`, method: 'POST', connections: CONNECTIONS, duration: 2, headers: { 'content-type': 'application/fhir+json' }, body });
    const gwRuns: Load[] = [];
    const bareRuns: Load[] = [];
    const cpu = { all: 0, main: 0, messages: 0 };
    for (let i = 0; i < RUNS; i++) {
      bareRuns.push(await http(bare.url, body));
      const before = cpuMs(gw.proc.pid);
      const r = await http(`${lan}/fhir/Observation`, body);
      const after = cpuMs(gw.proc.pid);
      gwRuns.push(r);
      if (before && after) {
        cpu.all += after.all - before.all;
        cpu.main += after.main - before.main;
        cpu.messages += r.rps * SECONDS;
      }
    }
    const g = median(gwRuns.map((r) => r.rps));
    const b = median(bareRuns.map((r) => r.rps));
    const half = Math.max(1, Math.round(g / 2));
    // Half rate, evenly paced (the target's reading: a steady load at half the maximum), and as autocannon's
    // overallRate sends it (each connection's per-second quota in one burst at the top of each second).
    const halfRuns: PacedResult[] = [];
    await new Promise((r) => setTimeout(r, 2000)); // let the bare server's run settle
    for (let i = 0; i < RUNS; i++) halfRuns.push(await pacedLoad(`${lan}/fhir/Observation`, body, half, SECONDS, CONNECTIONS));
    const burstRuns: Load[] = [];
    for (let i = 0; i < RUNS; i++) burstRuns.push(await http(`${lan}/fhir/Observation`, body, half));
    const deliveredAfterHttp = (await simReceived(ports.sim)).count;

    // HL7 v2 through the same gateway's MLLP listener (the whole pipeline, every message queued).
    const base = loadHl7('oru-r01-lab-a.hl7');
    const fields = base.split('\r')[0].split('|');
    fields[9] = '@@ID@@';
    const template = [fields.join('|'), ...base.split('\r').slice(1)].join('\r');
    const mllpRuns = [];
    for (let i = 0; i < RUNS; i++) mllpRuns.push(await mllpLoad(ports.mllp, template, 16));
    const mllp = median(mllpRuns.map((r) => r.perSecond));
    const p99 = median(gwRuns.map((r) => r.p99));
    const halfP99 = median(halfRuns.map((r) => r.p99));
    return {
      'full.body_bytes': Buffer.byteLength(body),
      'full.runs': RUNS,
      'full.seconds_per_run': SECONDS,
      'full.gateway.msg_per_s': Math.round(g),
      'full.gateway.p50_ms': median(gwRuns.map((r) => r.p50)),
      'full.gateway.p99_ms': p99,
      'full.gateway.non2xx': gwRuns.reduce((a, r) => a + r.non2xx + r.errors, 0),
      // CPU per message: steadier than rates on a shared machine. The main thread's share bounds the
      // rate one core can reach (deliveries included, as they run there too).
      'full.gateway.cpu_ms_per_msg.all_threads': cpu.messages ? +(cpu.all / cpu.messages).toFixed(3) : 'n/a',
      'full.gateway.cpu_ms_per_msg.main_thread': cpu.messages ? +(cpu.main / cpu.messages).toFixed(3) : 'n/a',
      'full.bare.msg_per_s': Math.round(b),
      'full.bare.p50_ms': median(bareRuns.map((r) => r.p50)),
      'full.bare.p99_ms': median(bareRuns.map((r) => r.p99)),
      'full.ratio_to_bare': Number((g / b).toFixed(3)),
      'full.half_rate.target_msg_per_s': half,
      'full.half_rate.msg_per_s': Math.round(median(halfRuns.map((r) => r.rps))),
      'full.half_rate.p50_ms': median(halfRuns.map((r) => r.p50)),
      'full.half_rate.p99_ms': halfP99,
      'full.half_rate.max_ms': median(halfRuns.map((r) => r.max)),
      'full.half_rate.failed': halfRuns.reduce((a, r) => a + r.failed, 0),
      'full.half_rate.autocannon_bursts.p99_ms': median(burstRuns.map((r) => r.p99)),
      'full.half_rate.autocannon_bursts.non2xx': burstRuns.reduce((a, r) => a + r.non2xx + r.errors, 0),
      'full.delivered_to_simulator': deliveredAfterHttp,
      'full.mllp.connections': 16,
      'full.mllp.acked_msg_per_s': Math.round(mllp),
      'full.mllp.p50_ms': +median(mllpRuns.map((r) => r.p50)).toFixed(2),
      'full.mllp.p99_ms': +median(mllpRuns.map((r) => r.p99)).toFixed(2),
      'full.target.msg_per_s_5000': g >= 5000 ? 'met' : 'missed',
      'full.target.ratio_0.25': g / b >= 0.25 ? 'met' : 'missed',
      'full.target.p99_50ms': p99 <= 50 ? 'met' : 'missed',
      'full.target.half_rate_p99_20ms': halfP99 <= 20 ? 'met' : 'missed',
      'full.target.mllp_3000': mllp >= 3000 ? 'met' : 'missed',
      'machine.loadavg_1m': +loadavg()[0].toFixed(2),
    };
  } finally {
    bare.proc.kill('SIGTERM');
    // SIGINT lets the gateway shut down cleanly, so --cpu-prof writes its profile.
    await gw.kill(prof ? 'SIGINT' : 'SIGTERM');
    await sim.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.table(r));
}
