/**
 * Soak (npm run bench -- soak [--minutes N], or SOAK_MINUTES=N; default 10; not in CI):
 * the real gateway and the upstream simulator run as child processes with the chaos proxy
 * (test/helpers) between them. For N minutes, HTTP senders post Observations on two lanes
 * (ETREAT and TREAT) while the link's faults change every few seconds (latency + jitter,
 * bandwidth caps, resets mid-body, link drops, blackholes, half-open connections, slow
 * answers, bursts of 503/429 with Retry-After), and at random moments the gateway is killed
 * with SIGKILL, the simulator is, or both are at once (a power cut), each restarted on the
 * same data folder. Then the chaos stops and the backlog drains.
 * Prints acknowledged, delivered, duplicates (after the receiver's de-duplication, and the raw
 * re-sends it saw), lost, and the queue age (enqueue → delivery) distribution. Sets a non-zero
 * exit code when anything acknowledged was lost or persisted twice.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { prepareDir, simControl, simReceived, startGatewayProcess, startSimulatorProcess, type Running } from '../test/helpers/processes.js';
import { NO_FAULTS, startChaosProxy, type Faults } from '../test/helpers/chaos-proxy.js';
import { consentFor, observation, patientFor } from './fixtures.js';

const say = (line: string) => process.stderr.write(`[bench/soak] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

function minutesWanted(): number {
  const i = process.argv.indexOf('--minutes');
  const raw = i >= 0 ? process.argv[i + 1] : process.env.SOAK_MINUTES;
  const n = raw === undefined ? 10 : Number(raw);
  if (!(n > 0)) throw new Error(`--minutes must be a positive number, not "${raw}"`);
  return n;
}

/** One fault set of the link at a time; each lasts a few seconds. */
const FAULT_SETS: { name: string; faults: Partial<Faults>; sim?: Record<string, unknown> }[] = [
  { name: 'clean', faults: {} },
  { name: 'thin (256 kbit/s, 300 ms RTT, jitter)', faults: { bandwidthBytesPerSec: 32_000, latencyMs: 150, jitterMs: 50 } },
  { name: 'resets mid-body', faults: { resetAfterBytes: 3000 } },
  { name: 'drops every 2 s', faults: { resetEveryMs: 2000, latencyMs: 50 } },
  { name: 'blackhole', faults: { blackhole: true } },
  { name: 'half-open', faults: { halfOpen: true } },
  { name: 'slow answers', faults: { slowResponseMs: 1500 } },
  { name: '503 burst', faults: {}, sim: { burst: 40, failStatus: 503, retryAfterS: 1 } },
  { name: '429 burst', faults: {}, sim: { burst: 40, failStatus: 429, retryAfterS: 2 } },
];

export async function run(): Promise<Record<string, string | number>> {
  const minutes = minutesWanted();
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-soak-'));
  const simDir = join(dir, 'sim-data');
  const { ports, configFile } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 100_000, baseDelayMs: 50, maxDelayMs: 2000, maxAgeMs: 24 * 3600_000 };
    c.destinations[0].timeoutMs = 5000;
  });
  const proxy = await startChaosProxy({ targetPort: ports.sim });
  // The gateway talks to the simulator through the proxy.
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  for (const d of config.destinations) d.url = d.url.replace(`127.0.0.1:${ports.sim}`, `127.0.0.1:${proxy.port}`);
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  // On a loaded machine a start can miss the helper's 30 s readiness wait; it is killed and tried again
  // (one more kill -9, on the same data folder), and counted.
  let slowStarts = 0;
  const again = async (start: () => Promise<Running>, what: string): Promise<Running> => {
    for (let i = 0; ; i++) {
      try {
        return await start();
      } catch (err) {
        slowStarts++;
        say(`${what} not ready in 30 s (${(err as Error).message.split('\n')[0]}); again`);
        if (i >= 4) throw err;
      }
    }
  };
  const startSim = () => again(() => startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs'), '--data-dir', simDir] }), 'simulator');
  const startGateway = () => again(() => startGatewayProcess(dir), 'gateway');
  let sim: Running | undefined = await startSim();
  let gw: Running | undefined = await startGateway();
  const lan = `http://127.0.0.1:${ports.lan}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${lan}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json', ...headers }, body: JSON.stringify(body) });
  if ((await post('/fhir/Patient', patientFor('p-soak'))).status !== 202) throw new Error('patient refused');
  if ((await post('/fhir/Consent', consentFor('p-soak'))).status !== 201) throw new Error('consent refused');

  const acked = new Map<string, 'ETREAT' | 'TREAT'>();
  const refused = new Map<number, number>();
  let running = true;
  const sender = async (s: number) => {
    for (let i = 0; running; i++) {
      const purpose = Math.random() < 0.1 ? 'ETREAT' : 'TREAT';
      try {
        const r = await post('/fhir/Observation', observation('p-soak', s * 10_000_000 + i), {
          'x-purpose-of-use': purpose,
          ...(purpose === 'ETREAT' ? { 'x-break-glass-reason': 'soak: emergency lane' } : {}),
        });
        if (r.status === 202) acked.set(((await r.json()) as { id: string }).id, purpose);
        else {
          // 503 at quota, or the gateway going down: not acknowledged, so not promised.
          refused.set(r.status, (refused.get(r.status) ?? 0) + 1);
          await r.body?.cancel();
        }
      } catch {
        await sleep(300); // the gateway is down
      }
      await sleep(between(20, 120));
    }
  };

  // Raw re-sends the simulator saw, summed over its incarnations (its counters restart with it).
  let rawResends = 0;
  let lastSimDuplicates = 0;
  const readSimStats = async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${ports.sim}/_sim/stats`);
      lastSimDuplicates = ((await r.json()) as { duplicates: number }).duplicates;
    } catch {
      // down
    }
  };
  const killSim = async () => {
    await readSimStats();
    await sim?.kill('SIGKILL');
    rawResends += lastSimDuplicates;
    lastSimDuplicates = 0;
    sim = undefined;
  };

  const events = { gatewayKills: 0, simulatorKills: 0, powerCuts: 0, faultChanges: 0 };
  const deadline = Date.now() + minutes * 60_000;
  say(`${minutes} min in ${dir}: gateway :${ports.lan}, proxy :${proxy.port} → simulator :${ports.sim}`);
  const senders = Array.from({ length: 3 }, (_, s) => sender(s));

  const chaos = (async () => {
    let nextKill = Date.now() + between(10_000, 30_000);
    while (Date.now() < deadline) {
      const set = pick(FAULT_SETS);
      proxy.set({ ...NO_FAULTS, ...set.faults });
      if (set.sim && sim) await simControl(ports.sim, set.sim).catch(() => {});
      events.faultChanges++;
      await sleep(between(3000, 9000));
      await readSimStats();
      if (Date.now() >= nextKill && Date.now() < deadline) {
        const what = pick(['gateway', 'simulator', 'power cut'] as const);
        say(`kill -9: ${what} (acknowledged so far ${acked.size})`);
        if (what !== 'simulator') await gw?.kill('SIGKILL');
        if (what !== 'gateway') await killSim();
        await sleep(between(300, 3000));
        if (!sim) sim = await startSim();
        if (what !== 'simulator') gw = await startGateway();
        events[what === 'gateway' ? 'gatewayKills' : what === 'simulator' ? 'simulatorKills' : 'powerCuts']++;
        nextKill = Date.now() + between(10_000, 40_000);
      }
    }
  })();
  await chaos;
  running = false;
  await Promise.all(senders);

  say(`chaos over; draining ${acked.size} acknowledged messages`);
  proxy.set({ ...NO_FAULTS });
  await simControl(ports.sim, { burst: 0, failRate: 0 }).catch(() => {});
  let received = new Set<string>();
  const drainUntil = Date.now() + 10 * 60_000;
  while (Date.now() < drainUntil) {
    received = new Set((await simReceived(ports.sim)).ids);
    if ([...acked.keys()].every((id) => received.has(id))) break;
    await sleep(1000);
  }
  await readSimStats();
  rawResends += lastSimDuplicates;
  await gw?.kill('SIGTERM');
  await sim?.kill('SIGTERM');
  await proxy.stop();

  // The receiver's own record: one line per id it persisted; a repeated line is a duplicate it let through.
  const lines = readFileSync(join(simDir, 'received.log'), 'utf8').split('\n').filter(Boolean);
  const duplicatesAfterDedup = lines.length - new Set(lines).size;
  const delivered = [...acked.keys()].filter((id) => received.has(id)).length;
  const lost = acked.size - delivered;

  // Queue age from the gateway's own queue: enqueue → delivery, per item.
  const db = new Database(config.dataDir ? join(dir, config.dataDir, 'darwaza.db') : join(dir, 'data', 'darwaza.db'), { readonly: true, fileMustExist: true });
  const ages = (db.prepare(`SELECT delivered_at - enqueued_at AS age, lane FROM queue_items WHERE state = 'delivered'`).all() as { age: number; lane: number }[]);
  db.close();
  const pct = (xs: number[], p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]! : 0);
  const dist = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `p50 ${(pct(s, 0.5) / 1000).toFixed(1)} s, p90 ${(pct(s, 0.9) / 1000).toFixed(1)} s, p99 ${(pct(s, 0.99) / 1000).toFixed(1)} s, max ${((s.at(-1) ?? 0) / 1000).toFixed(1)} s`;
  };
  const emergency = ages.filter((a) => a.lane === 0).map((a) => a.age);
  const figures: Record<string, string | number> = {
    'soak: minutes of chaos': minutes,
    'soak: gateway kill -9 / simulator kill -9 / power cuts': `${events.gatewayKills} / ${events.simulatorKills} / ${events.powerCuts}`,
    'soak: link fault changes': events.faultChanges,
    'soak: starts that missed 30 s and were killed and retried': slowStarts,
    'soak: acknowledged (ETREAT)': `${acked.size} (${[...acked.values()].filter((p) => p === 'ETREAT').length})`,
    'soak: answered other than 202 (by status)': [...refused].map(([k, v]) => `${k}: ${v}`).join(', ') || 'none',
    'soak: delivered': delivered,
    'soak: lost (target 0)': lost,
    'soak: duplicates after receiver dedup (target 0)': duplicatesAfterDedup,
    'soak: raw re-sends seen by the receiver': rawResends,
    'soak: queue age, all lanes': dist(ages.map((a) => a.age)),
    'soak: queue age, emergency lane': dist(emergency),
  };
  if (lost > 0 || duplicatesAfterDedup > 0) {
    process.exitCode = 1;
    say(`FAILED: ${lost} lost, ${duplicatesAfterDedup} duplicates; data kept in ${dir}`);
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(56)} ${v}`);
}
