/**
 * MLLP ingress throughput: ORU^R01 messages acknowledged per second over 16
 * connections (each sends, waits for its ACK, sends the next), with the
 * SQLite accept of the tests (message + idempotency ACK committed, WAL,
 * synchronous=FULL, group commit). Baselines measured in the same run: the
 * same load with one transaction per message, with an accept that stores
 * nothing (the cost of parse + map + framing alone), and the group commit on
 * tmpfs (fsync free: the CPU ceiling, not a durability figure).
 * The load generator runs in a worker thread so it does not share the
 * server's event loop. Figures are medians over RUNS runs.
 *
 *   npx tsx bench/mllp.ts
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { startMllpServer, type MllpAccept } from '../src/ingress/mllp/index.js';
import { openSqliteAccept } from '../test/fixtures/hl7v2/sqlite-accept.js';
import { loadHl7 } from '../test/fixtures/hl7v2/load.js';

const CONNECTIONS = 16;
const DURATION_MS = Number(process.env.BENCH_MLLP_MS ?? 3000);
const RUNS = Number(process.env.BENCH_MLLP_RUNS ?? 3);
/** Group-commit window (ms): 0 = commit at the end of the event-loop turn. */
const WINDOW_MS = Number(process.env.BENCH_MLLP_WINDOW_MS ?? 0);

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const { port, connections, durationMs, template } = workerData;
const lat = [];
let done = 0;
const until = Date.now() + durationMs;
let open = connections;
let seq = 0;
for (let i = 0; i < connections; i++) {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let sentAt = 0;
  const send = () => {
    const id = 'B' + i + '-' + (seq++);
    const text = template.replace('@@ID@@', id);
    sentAt = performance.now();
    s.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(text), Buffer.from([0x1c, 0x0d])]));
  };
  s.on('connect', send);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    let end;
    while ((end = buf.indexOf(0x1c)) >= 0 && buf.length > end + 1) {
      const ack = buf.subarray(1, end).toString();
      buf = buf.subarray(end + 2);
      if (!ack.includes('MSA|AA|') && !ack.includes('MSA|CA|')) { parentPort.postMessage({ error: 'not AA: ' + ack.slice(0, 200) }); }
      lat.push(performance.now() - sentAt);
      done++;
      if (Date.now() < until) send(); else { s.end(); }
    }
  });
  s.on('close', () => { if (--open === 0) parentPort.postMessage({ done, lat }); });
  s.on('error', (e) => parentPort.postMessage({ error: String(e) }));
}
`;

interface RunResult {
  perSecond: number;
  p50: number;
  p99: number;
  /** Messages per transaction and ms per transaction (commit + fsync included). */
  perCommit?: number;
  commitMs?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** 16 connections (or `connections`) of send → wait for the ACK → send, for DURATION_MS. */
export async function load(port: number, template: string, connections = CONNECTIONS): Promise<RunResult> {
  const started = performance.now();
  const result = await new Promise<{ done: number; lat: number[] }>((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { port, connections, durationMs: DURATION_MS, template } });
    w.on('message', (m: { error?: string; done?: number; lat?: number[] }) => {
      if (m.error) reject(new Error(m.error));
      else resolve(m as { done: number; lat: number[] });
      void w.terminate();
    });
    w.on('error', reject);
  });
  const seconds = (performance.now() - started) / 1000;
  const lat = result.lat.sort((a, b) => a - b);
  return { perSecond: result.done / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

type Kind = 'group' | 'single' | 'none' | 'tmpfs';

async function measure(kind: Kind, template: string): Promise<RunResult> {
  // 'tmpfs': the same group commit on /dev/shm, where fsync costs nothing — the CPU
  // ceiling of the path, NOT a durability figure (it shows what the disk costs).
  const root = kind === 'tmpfs' && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(root, 'dz-bench-mllp-'));
  const store = kind === 'none' ? null : openSqliteAccept(join(dir, 'gateway.db'), { maxBatch: kind === 'single' ? 1 : 256, windowMs: kind === 'single' ? 0 : WINDOW_MS });
  let n = 0;
  const noStore: MllpAccept = async (input) => {
    const id = `m${n++}`;
    return { kind: 'accepted', messageId: id, storedAck: input.ackFor(id) };
  };
  const server = await startMllpServer({ host: '127.0.0.1', port: 0, accept: store ? store.accept : noStore, maxFrameBytes: 1 << 20, idleTimeoutMs: 60_000 });
  try {
    const r = await load(server.port, template);
    if (store) {
      r.perCommit = store.count() / store.commits();
      r.commitMs = store.busyMs() / store.commits();
    }
    return r;
  } finally {
    await server.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, string | number>> {
  const base = loadHl7('oru-r01-lab-a.hl7');
  const fields = base.split('\r')[0].split('|');
  fields[9] = '@@ID@@';
  const template = [fields.join('|'), ...base.split('\r').slice(1)].join('\r');
  const runs: Record<Kind, RunResult[]> = { group: [], single: [], none: [], tmpfs: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const kind of ['group', 'single', 'none', 'tmpfs'] as const) runs[kind].push(await measure(kind, template));
  }
  const med = (k: keyof typeof runs, f: keyof RunResult) => median(runs[k].map((r) => r[f] ?? NaN));
  const group = med('group', 'perSecond');
  return {
    'mllp.connections': CONNECTIONS,
    'mllp.message_bytes': Buffer.byteLength(base),
    'mllp.runs': RUNS,
    'mllp.group_commit.window_ms': WINDOW_MS,
    'mllp.group_commit.msg_per_s': Math.round(group),
    'mllp.group_commit.p50_ms': +med('group', 'p50').toFixed(2),
    'mllp.group_commit.p99_ms': +med('group', 'p99').toFixed(2),
    'mllp.group_commit.msgs_per_tx': +med('group', 'perCommit').toFixed(1),
    'mllp.group_commit.ms_per_tx': +med('group', 'commitMs').toFixed(2),
    'mllp.one_tx_per_msg.ms_per_tx': +med('single', 'commitMs').toFixed(2),
    'mllp.one_tx_per_msg.msg_per_s': Math.round(med('single', 'perSecond')),
    'mllp.one_tx_per_msg.p99_ms': +med('single', 'p99').toFixed(2),
    'mllp.group_commit_on_tmpfs.msg_per_s': Math.round(med('tmpfs', 'perSecond')),
    'mllp.group_commit_on_tmpfs.p99_ms': +med('tmpfs', 'p99').toFixed(2),
    'mllp.no_store.msg_per_s': Math.round(med('none', 'perSecond')),
    'mllp.no_store.p99_ms': +med('none', 'p99').toFixed(2),
    'mllp.ratio.group_vs_one_tx': +(group / med('single', 'perSecond')).toFixed(2),
    'mllp.ratio.group_vs_no_store': +(group / med('none', 'perSecond')).toFixed(2),
    'mllp.target.msg_per_s_3000': group >= 3000 ? 'met' : 'missed',
    'mllp.target.p99_50ms': med('group', 'p99') <= 50 ? 'met' : 'missed',
    'machine.loadavg_1m': +loadavg()[0].toFixed(2),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k}\t${v}`);
}
