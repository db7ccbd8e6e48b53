/**
 * Ingest benchmark: the real gateway (child process, full pipeline: classify, policy,
 * consent, seal, encrypted group commit) against a bare Node HTTP server that only
 * parses the JSON body and answers 202 — the baseline, measured in the same run.
 * ~2 KB FHIR Observations, concurrency 64, autocannon; medians over runs.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { prepareDir, startGatewayProcess, startSimulatorProcess, simReceived } from '../test/helpers/processes.js';
import { observation, consentFor, patientFor } from './fixtures.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 64;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function load(url: string, body: string, headers: Record<string, string>) {
  const r = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json', ...headers },
    body,
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

/** The baseline: parse JSON, answer 202. Runs in a child so it has its own core like the gateway. */
async function baselineServer(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"id":"x"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/fhir/Observation`, close: () => server.close() };
}

export async function run(): Promise<Record<string, string | number>> {
  const body = JSON.stringify(observation('bench-patient-1'));
  const dir = mkdtempSync(join(tmpdir(), 'dz-bench-ingest-'));
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].concurrency = 32;
  });
  const sim = await startSimulatorProcess(dir, ports.sim);
  const gw = await startGatewayProcess(dir);
  try {
    // The Patient first, so the gateway knows the age (an unknown age is read as a minor's).
    const registered = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientFor('bench-patient-1')) });
    if (registered.status !== 202) throw new Error(`patient post failed: ${registered.status}`);
    const consent = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' },
      body: JSON.stringify(consentFor('bench-patient-1')),
    });
    if (consent.status >= 300) throw new Error(`consent post failed: ${consent.status} ${await consent.text()}`);
    const probe = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body });
    const answer = (await probe.json()) as { destinations: { decision: string }[] };
    if (answer.destinations?.[0]?.decision !== 'queued') throw new Error(`bench message not queued: ${JSON.stringify(answer)}`);

    const base = await baselineServer();
    const gwRuns: Awaited<ReturnType<typeof load>>[] = [];
    const baseRuns: Awaited<ReturnType<typeof load>>[] = [];
    for (let i = 0; i < RUNS; i++) {
      baseRuns.push(await load(base.url, body, {}));
      gwRuns.push(await load(`http://127.0.0.1:${ports.lan}/fhir/Observation`, body, {}));
    }
    base.close();
    const g = median(gwRuns.map((r) => r.rps));
    const b = median(baseRuns.map((r) => r.rps));
    const received = await simReceived(ports.sim);
    return {
      'ingest.body_bytes': Buffer.byteLength(body),
      'ingest.gateway_msg_per_s': Math.round(g),
      'ingest.gateway_p50_ms': median(gwRuns.map((r) => r.p50)),
      'ingest.gateway_p99_ms': median(gwRuns.map((r) => r.p99)),
      'ingest.gateway_non2xx': gwRuns.reduce((a, r) => a + r.non2xx, 0),
      'ingest.baseline_msg_per_s': Math.round(b),
      'ingest.baseline_p99_ms': median(baseRuns.map((r) => r.p99)),
      'ingest.ratio_to_baseline': Number((g / b).toFixed(3)),
      'ingest.delivered_during_run': received.count,
    };
  } finally {
    await gw.kill('SIGTERM');
    await sim.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.table(r));
}
