/**
 * The fixed per-request delay: the full gateway at a low fixed rate (autocannon overallRate, few
 * connections), where queueing is nil and the median is the path's own latency. Also reports the
 * main thread's event-loop lag max from /metrics (the start stall shows there).
 * BENCH_LOW_RATE (default 50), BENCH_LOW_SECONDS (default 8), BENCH_LOW_RUNS (default 2).
 * Gateway env passes through (e.g. DARWAZA_POOL_SIZE=0 to compare without the worker hop).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { prepareDir, startGatewayProcess, startSimulatorProcess } from '../test/helpers/processes.js';
import { observation, consentFor, patientFor } from './fixtures.js';

const RATE = Number(process.env.BENCH_LOW_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_LOW_SECONDS ?? 8);
const RUNS = Number(process.env.BENCH_LOW_RUNS ?? 2);

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
}

async function lagMax(adminPort: number): Promise<number | undefined> {
  const m = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const v = /^darwaza_process_nodejs_eventloop_lag_max_seconds (\S+)/m.exec(m);
  return v ? +(Number(v[1]) * 1000).toFixed(1) : undefined;
}

export async function run(): Promise<Record<string, string | number>> {
  const body = JSON.stringify(observation('bench-patient-1'));
  const dir = mkdtempSync(join(tmpdir(), 'dz-bench-low-'));
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].concurrency = 32;
  });
  const sim = await startSimulatorProcess(dir, ports.sim);
  const gw = await startGatewayProcess(dir, { env: { ...process.env, DARWAZA_LOG_LEVEL: 'warn' } });
  const lan = `http://127.0.0.1:${ports.lan}`;
  const out: Record<string, string | number> = { 'low.rate': RATE, 'low.seconds': SECONDS };
  try {
    // Lag measured before any load: the start itself (module load, store open) counts here.
    out['low.lag_max_at_start_ms'] = (await lagMax(ports.admin)) ?? 'n/a';
    await new Promise((r) => setTimeout(r, 3000));
    out['low.lag_max_idle_3s_ms'] = (await lagMax(ports.admin)) ?? 'n/a';
    await postJson(`${lan}/fhir/Patient`, patientFor('bench-patient-1'));
    await postJson(`${lan}/fhir/Consent`, consentFor('bench-patient-1'));
    for (let i = 0; i < RUNS; i++) {
      const r = await autocannon({ url: `${lan}/fhir/Observation`, method: 'POST', connections: 4, duration: SECONDS, overallRate: RATE, headers: { 'content-type': 'application/fhir+json' }, body });
      out[`low.run${i}.p50_ms`] = r.latency.p50;
      out[`low.run${i}.p99_ms`] = r.latency.p99;
      out[`low.run${i}.non2xx`] = r.non2xx + r.errors;
      out[`low.run${i}.lag_max_ms`] = (await lagMax(ports.admin)) ?? 'n/a';
    }
    // The same rate on a route that touches no pipeline (an unknown message id): the loop's own latency here.
    const g = await autocannon({ url: `${lan}/messages/none`, connections: 4, duration: SECONDS, overallRate: RATE });
    out['low.get_unknown.p50_ms'] = g.latency.p50;
    out['low.get_unknown.p99_ms'] = g.latency.p99;
    // The group commit's own time (the store reports it): what of the ingest stage the commit explains.
    const m = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text();
    const num = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(m)?.[1] ?? NaN);
    out['low.commit_mean_ms'] = +((num('darwaza_commit_seconds_sum') / num('darwaza_commit_seconds_count')) * 1000).toFixed(2);
    out['low.commit_batch_mean'] = +(num('darwaza_commit_batch_size_sum') / num('darwaza_commit_batch_size_count')).toFixed(2);
    out['machine.loadavg_1m'] = +loadavg()[0].toFixed(2);
    return out;
  } finally {
    await gw.kill('SIGTERM');
    await sim.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.table(r));
}
