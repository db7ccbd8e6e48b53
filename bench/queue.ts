/**
 * Queue benchmarks (run: npx tsx bench/queue.ts). Medians over several runs.
 *  - enqueue: accept() with ~2 KB payloads, 64 concurrent callers (so group commit works),
 *    at backlog 0 and at backlog 100k; the ratio between them (target ≥ 0.9);
 *  - claim + settle (delivered) in batches of 64;
 *  - RSS with 100k queued (target ≤ 200 MB);
 *  - drain through Dispatcher + uplink to the simulator in a child process on loopback
 *    (target ≥ 3,000 msg/s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { Destination } from '../src/model/index.js';
import { openDatabase, type Db } from '../src/store/index.js';
import { Dispatcher, SqliteQueueStore, newMessageId, type AcceptWrite } from '../src/queue/index.js';
import { createUplink } from '../src/egress/index.js';

const PAYLOAD = Buffer.from(JSON.stringify({ envelope: 'a'.repeat(2030) }));
const CONCURRENCY = 64;
const RUNS = 3;
const say = (line: string) => process.stderr.write(`[bench/queue] ${line}\n`);

/** Message ids: random UUID v4 (what a caller may use) or time-ordered (newMessageId, recommended). */
let idKind: 'v4' | 'v7' = 'v4';
function makeWrite(destination = 'nhs-pk'): AcceptWrite {
  const id = idKind === 'v4' ? randomUUID() : newMessageId();
  return {
    message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[{"name":"nhs-pk","decision":"queued"}]' },
    items: [
      {
        messageId: id,
        destination,
        lane: 'normal',
        payload: PAYLOAD,
        contentType: 'application/json',
        cipherScope: 'd:2026-11-26',
        patientTokens: [randomUUID()],
        context: '{"purpose":"TREAT"}',
      },
    ],
    audit: [],
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function open(dir: string, maxBatch?: number): { db: Db; store: SqliteQueueStore } {
  const db = openDatabase(join(dir, 'darwaza.db'));
  return { db, store: SqliteQueueStore.open(db, { quotaBytes: 1e12, minFreeDiskBytes: 0, ...(maxBatch ? { maxBatch } : {}) }) };
}

/** CPU µs per message of the last enqueueRate() run (robust against other load on the machine). */
const cpuPerMsg: number[] = [];

/** msg/s for `count` accepts from CONCURRENCY callers that each wait for their ack before the next. */
async function enqueueRate(store: SqliteQueueStore, count: number): Promise<number> {
  let left = count;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const worker = async () => {
    while (left-- > 0) await store.accept(makeWrite());
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(cpu);
  cpuPerMsg.push((used.user + used.system) / count);
  return count / ((performance.now() - started) / 1000);
}

/** Fast backlog: big transactions (one flush per 5,000). */
async function buildBacklog(store: SqliteQueueStore, count: number): Promise<void> {
  for (let done = 0; done < count; done += 5_000) {
    await Promise.all(Array.from({ length: Math.min(5_000, count - done) }, () => store.accept(makeWrite())));
  }
}

function startSimChild(): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'dz-bench-sim-'));
  const script = join(dir, 'sim.mts');
  const simUrl = pathToFileURL(join(process.cwd(), 'src/sim/index.ts')).href;
  writeFileSync(
    script,
    `import { startSimulator } from ${JSON.stringify(simUrl)};
     const s = await startSimulator({ port: 0 });
     console.log(s.url);
     process.on('SIGTERM', () => s.stop().then(() => process.exit(0)));`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve({ url: buf.split('\n')[0]!.trim(), child, dir });
    });
    child.on('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
}

async function drainRate(url: string, count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'dz-bench-drain-'));
  const { db, store } = open(dir, 5_000);
  await buildBacklog(store, count);
  const d: Destination = {
    name: 'nhs-pk',
    url: `${url}/fhir`,
    country: 'PK',
    kind: 'treatment',
    format: 'fhir',
    timeoutMs: 10_000,
    concurrency: 64,
    retry: { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 5_000, maxAgeMs: 86_400_000 },
  };
  const uplink = createUplink();
  let delivered = 0;
  let failed = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const dispatcher = new Dispatcher({
    store: {
      claim: (dest, limit) => store.claim(dest, limit),
      settle: async (s) => {
        await store.settle(s);
        delivered += s.filter((x) => x.kind === 'delivered').length;
        failed += s.filter((x) => x.kind === 'dead').length;
        if (delivered + failed >= count) finish();
      },
    },
    destinations: [d],
    deliver: (dd, item) => uplink.deliver(dd, item.payload, { idempotencyKey: item.messageId, contentType: item.contentType }),
  });
  const started = performance.now();
  dispatcher.start();
  await finished;
  const rate = count / ((performance.now() - started) / 1000);
  if (failed) throw new Error(`${failed} of ${count} deliveries were dead-lettered`);
  await dispatcher.stop();
  uplink.close();
  store.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function enqueueFigures(mk: () => string): Promise<Record<string, number>> {
  const enqueue = async (kind: 'v4' | 'v7') => {
    idKind = kind;
    const empty: number[] = [];
    cpuPerMsg.length = 0;
    for (let i = 0; i < RUNS; i++) {
      const { db, store } = open(mk());
      empty.push(await enqueueRate(store, 10_000));
      store.close();
      db.close();
    }
    say(`[${kind} ids] enqueue at backlog 0: ${empty.map(Math.round).join(', ')} msg/s`);
    const dir = mk();
    const big = open(dir, 5_000);
    const t0 = performance.now();
    await buildBacklog(big.store, 100_000);
    const buildSeconds = (performance.now() - t0) / 1000;
    say(`[${kind} ids] backlog of 100k built in ${buildSeconds.toFixed(1)} s`);
    big.store.close();
    big.db.close();
    const opened = open(dir);
    global.gc?.();
    const rss = process.memoryUsage().rss / 1024 / 1024;
    const cpu0 = median(cpuPerMsg);
    cpuPerMsg.length = 0;
    const loaded: number[] = [];
    // Each run adds 10k more (100k → 130k).
    for (let i = 0; i < RUNS; i++) loaded.push(await enqueueRate(opened.store, 10_000));
    say(`[${kind} ids] enqueue at backlog 100k+: ${loaded.map(Math.round).join(', ')} msg/s`);
    const cpu100 = median(cpuPerMsg);
    say(`[${kind} ids] CPU µs per message: ${cpu0.toFixed(1)} at 0, ${cpu100.toFixed(1)} at 100k+`);
    return { e0: median(empty), e100: median(loaded), cpu0, cpu100, buildSeconds, rss, ...opened };
  };
  const v4 = await enqueue('v4');
  v4.store.close();
  v4.db.close();
  const v7 = await enqueue('v7');
  const rssAfter = process.memoryUsage().rss / 1024 / 1024;
  // Claim + settle in batches of 64 from the 130k backlog.
  const claimRates: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    let n = 0;
    while (n < 10_000) {
      const items = await v7.store.claim('nhs-pk', 64);
      await v7.store.settle(items.map((it) => ({ kind: 'delivered' as const, id: it.id, status: 200 })));
      n += items.length;
    }
    claimRates.push(n / ((performance.now() - started) / 1000));
  }
  say(`claim+settle: ${claimRates.map(Math.round).join(', ')} msg/s`);
  v7.store.close();
  v7.db.close();
  return {
    'enqueue msg/s at backlog 0, time-ordered ids (median)': Math.round(v7.e0),
    'enqueue msg/s at backlog 100k, time-ordered ids (median)': Math.round(v7.e100),
    'enqueue ratio 100k / 0, time-ordered ids (target >= 0.9)': Number((v7.e100 / v7.e0).toFixed(3)),
    'enqueue CPU µs/msg at backlog 0, time-ordered ids (median)': Number(v7.cpu0.toFixed(1)),
    'enqueue CPU µs/msg at backlog 100k, time-ordered ids (median)': Number(v7.cpu100.toFixed(1)),
    'enqueue CPU ratio 100k / 0, time-ordered ids (1.0 = flat)': Number((v7.cpu100 / v7.cpu0).toFixed(3)),
    'enqueue CPU ratio 100k / 0, random UUID v4 ids': Number((v4.cpu100 / v4.cpu0).toFixed(3)),
    'enqueue msg/s at backlog 0, random UUID v4 ids (median)': Math.round(v4.e0),
    'enqueue msg/s at backlog 100k, random UUID v4 ids (median)': Math.round(v4.e100),
    'enqueue ratio 100k / 0, random UUID v4 ids': Number((v4.e100 / v4.e0).toFixed(3)),
    'backlog build seconds for 100k (5,000 per transaction)': Number(v7.buildSeconds.toFixed(1)),
    'claim+settle msg/s, batches of 64 (median)': Math.round(median(claimRates)),
    'RSS MB with 100k queued (target <= 200)': Math.round(v7.rss),
    'RSS MB after 30k more enqueued and 30k claimed': Math.round(rssAfter),
  };
}

async function drainFigures(): Promise<Record<string, number>> {
  const sim = await startSimChild();
  const drains: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      drains.push(await drainRate(sim.url, 20_000));
      say(`drain run ${i + 1}: ${Math.round(drains.at(-1)!)} msg/s`);
    }
  } finally {
    sim.child.kill('SIGTERM');
    rmSync(sim.dir, { recursive: true, force: true });
  }
  return { 'drain msg/s dispatcher+uplink to simulator child, concurrency 64 (median, target >= 3000)': Math.round(median(drains)) };
}

/** BENCH_QUEUE_ONLY=enqueue|drain runs one part. */
export async function run(): Promise<Record<string, string | number>> {
  const only = process.env.BENCH_QUEUE_ONLY;
  const dirs: string[] = [];
  const mk = () => {
    const d = mkdtempSync(join(tmpdir(), 'dz-bench-queue-'));
    dirs.push(d);
    return d;
  };
  try {
    const figures: Record<string, string | number> = {
      ...(only === 'drain' ? {} : await enqueueFigures(mk)),
      ...(only === 'enqueue' ? {} : await drainFigures()),
    };
    figures['runs per figure'] = RUNS;
    figures['load average (1 min) at the end, 2 cores'] = Number(loadavg()[0]!.toFixed(1));
    return figures;
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then(
    (figures) => {
      for (const [k, v] of Object.entries(figures)) console.log(`${k}: ${v}`);
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
