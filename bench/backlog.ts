/**
 * What the full-path bench does not reach: the queue at a large backlog.
 * (run: npx tsx bench/backlog.ts; BENCH_BACKLOG=1000000 for the 1M of the targets, default 200k)
 *  - enqueue rate (64 callers, each waiting for its ack; ~2 KB sealed payload, one patient
 *    token and one audit leaf per message, as the ack path writes them) on an empty queue
 *    and on one holding BENCH_BACKLOG ready rows; the ratio (target ≥ 0.9);
 *  - RSS of this process with that backlog queued, the store open on it (target ≤ 256 MB);
 *  - drain to the simulator in a child process while the same 64 callers keep enqueueing:
 *    both rates (target: drain ≥ 5,000 msg/s with ingest running);
 *  - BENCH_BACKLOG=0 stops after the empty-queue figures; BENCH_LEAVES=3 writes the three
 *    audit entries a message wrote before one leaf per destination decision;
 *  - the WAL's size at the end (bounded by the background checkpoints).
 * Each enqueue figure comes with its CPU µs per message (this process), which a loaded
 * machine disturbs less than the rates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Destination } from '../src/model/index.js';
import { openDatabase, type Db } from '../src/store/index.js';
import { AuditLog, auditEvents } from '../src/audit/index.js';
import { Dispatcher, SqliteQueueStore, newMessageId, type AcceptWrite } from '../src/queue/index.js';
import { createUplink } from '../src/egress/index.js';

const PAYLOAD = Buffer.from(JSON.stringify({ envelope: 'a'.repeat(2030) }));
const CONCURRENCY = 64;
const RUNS = 3;
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 200_000);
const POLICY = 'a'.repeat(64);
/** BENCH_LEAVES=3 writes received + decided + queued per message (the ack path before one leaf per decision). */
const LEAVES = Number(process.env.BENCH_LEAVES ?? 1);
const say = (line: string) => process.stderr.write(`[bench/backlog] ${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let tokenN = 0;

function makeWrite(): AcceptWrite {
  const id = newMessageId();
  const token = `tok${(++tokenN).toString(36).padStart(21, 'A')}`;
  return {
    message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[{"name":"nhs-pk","decision":"queued"}]' },
    items: [{ messageId: id, destination: 'nhs-pk', lane: 'normal', payload: PAYLOAD, contentType: 'application/json', cipherScope: 'd:2026-11-26', patientTokens: [token], context: '{"purpose":"TREAT"}' }],
    audit: LEAVES === 3
      ? [
          auditEvents.received({ time: Date.now(), messageId: id, source: 'ehr', purpose: 'TREAT', patientToken: token }),
          auditEvents.decided({ time: Date.now(), messageId: id, source: 'ehr', destination: 'nhs-pk', purpose: 'TREAT', decision: 'permit', policySha256: POLICY, patientToken: token }),
          auditEvents.queued({ time: Date.now(), messageId: id, destination: 'nhs-pk', purpose: 'TREAT', patientToken: token, policySha256: POLICY }),
        ]
      : [auditEvents.decided({ time: Date.now(), messageId: id, source: 'ehr', destination: 'nhs-pk', purpose: 'TREAT', decision: 'permit', policySha256: POLICY, patientToken: token })],
  };
}

interface Opened {
  db: Db;
  store: SqliteQueueStore;
  log: AuditLog;
  timer: NodeJS.Timeout;
}
function open(dir: string, maxBatch?: number): Opened {
  const db = openDatabase(join(dir, 'darwaza.db'));
  // BENCH_CACHE_KIB: SQLite's page cache for this connection (its default is 2 MiB).
  if (process.env.BENCH_CACHE_KIB) db.pragma(`cache_size = -${Number(process.env.BENCH_CACHE_KIB)}`);
  const log = AuditLog.open(db);
  // The tree is built behind the appends, as the gateway does.
  const timer = setInterval(() => log.build(), 200);
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e12, minFreeDiskBytes: 0, audit: log, ...(maxBatch ? { maxBatch } : {}) });
  return { db, store, log, timer };
}
async function close(o: Opened) {
  clearInterval(o.timer);
  await o.store.close();
  o.db.close();
}

/** msg/s for `count` accepts from CONCURRENCY callers that each wait for their ack before the next. */
async function enqueueRate(store: SqliteQueueStore, count: number, until?: () => boolean): Promise<{ rate: number; n: number; cpuUs: number }> {
  let left = count;
  let n = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const worker = async () => {
    while ((until ? !until() : left-- > 0)) {
      await store.accept(makeWrite());
      n++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(cpu);
  return { rate: n / ((performance.now() - started) / 1000), n, cpuUs: (used.user + used.system) / n };
}

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

/** Drains `count` of the backlog while 64 callers keep enqueueing; both rates. */
async function drainWithIngest(o: Opened, url: string, count: number) {
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
  let done = false;
  const dispatcher = new Dispatcher({
    store: {
      claim: (dest, limit) => o.store.claim(dest, limit),
      settle: async (s) => {
        await o.store.settle(s);
        delivered += s.filter((x) => x.kind === 'delivered').length;
        if (delivered >= count) done = true;
      },
    },
    destinations: [d],
    deliver: (dd, item) => uplink.deliver(dd, item.payload, { idempotencyKey: item.messageId, contentType: item.contentType }),
  });
  const started = performance.now();
  dispatcher.start();
  const ingest = await enqueueRate(o.store, 0, () => done);
  const seconds = (performance.now() - started) / 1000;
  await dispatcher.stop();
  uplink.close();
  return { drain: delivered / seconds, ingest: ingest.n / seconds };
}

export async function run(): Promise<Record<string, string | number>> {
  const dirs: string[] = [];
  const mk = () => {
    const d = mkdtempSync(join(tmpdir(), 'dz-bench-backlog-'));
    dirs.push(d);
    return d;
  };
  const sim = await startSimChild();
  try {
    const empty: number[] = [];
    const emptyCpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const o = open(mk());
      const r = await enqueueRate(o.store, 10_000);
      empty.push(r.rate);
      emptyCpu.push(r.cpuUs);
      await close(o);
    }
    say(`enqueue at backlog 0: ${empty.map(Math.round).join(', ')} msg/s, ${emptyCpu.map(Math.round).join(', ')} µs CPU/msg`);
    // BENCH_BACKLOG=0: the empty-queue figures only (the ack transaction's own cost).
    if (BACKLOG === 0) return { 'enqueue msg/s at backlog 0 (median)': Math.round(median(empty)), 'enqueue CPU µs/msg at backlog 0 (median)': Math.round(median(emptyCpu)), 'audit leaves per message': LEAVES };
    const dir = mk();
    const big = open(dir, 5_000);
    const t0 = performance.now();
    await buildBacklog(big.store, BACKLOG);
    say(`backlog of ${BACKLOG} built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await close(big);
    const o = open(dir);
    global.gc?.();
    const rss = process.memoryUsage().rss / 1024 / 1024;
    const loaded: number[] = [];
    const loadedCpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await enqueueRate(o.store, 10_000);
      loaded.push(r.rate);
      loadedCpu.push(r.cpuUs);
    }
    say(`enqueue at backlog ${BACKLOG}+: ${loaded.map(Math.round).join(', ')} msg/s; RSS ${Math.round(rss)} MB`);
    const both = await drainWithIngest(o, sim.url, 20_000);
    say(`drain with ingest running: ${Math.round(both.drain)} msg/s delivered, ${Math.round(both.ingest)} msg/s enqueued`);
    const rssEnd = process.memoryUsage().rss / 1024 / 1024;
    const wal = statSync(`${o.db.name}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    await close(o);
    return {
      'backlog (ready rows)': BACKLOG,
      'enqueue msg/s at backlog 0 (median)': Math.round(median(empty)),
      [`enqueue msg/s at backlog ${BACKLOG} (median)`]: Math.round(median(loaded)),
      'enqueue ratio backlog / empty (target >= 0.9)': Number((median(loaded) / median(empty)).toFixed(3)),
      'enqueue CPU µs/msg at backlog 0 / at the backlog (medians)': `${Math.round(median(emptyCpu))} / ${Math.round(median(loadedCpu))}`,
      'enqueue CPU ratio backlog / empty (1.0 = flat; holds up under load better than rates)': Number((median(loadedCpu) / median(emptyCpu)).toFixed(3)),
      'RSS MB with the backlog queued, store open (target <= 256)': Math.round(rss),
      'drain msg/s with ingest running (target >= 5000)': Math.round(both.drain),
      'enqueue msg/s while draining': Math.round(both.ingest),
      'RSS MB at the end': Math.round(rssEnd),
      'WAL MB at the end (background checkpoints)': Number((wal / 1024 / 1024).toFixed(1)),
      'load average (1 min) at the end, 2 cores': Number(loadavg()[0]!.toFixed(1)),
    };
  } finally {
    sim.child.kill('SIGTERM');
    rmSync(sim.dir, { recursive: true, force: true });
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
