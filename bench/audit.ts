/**
 * Audit log benchmarks (medians):
 *  - append: entries/s in batches of 64, each batch inside a transaction (as the pipeline
 *    calls it), against a baseline of inserting the same canonical rows with no Merkle work;
 *  - verify 1M entries: from the database (with stored-hash checks) and offline from an
 *    export folder, in-process and through the built CLI with and without worker threads
 *    (target ≤ 10 s);
 *  - inclusion proof and consistency proof at 1M entries (target ≤ 1 ms).
 * Run: npx tsx bench/audit.ts   (AUDIT_BENCH_ENTRIES=… to change the 1M)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/store/index.js';
import { getSodium } from '../src/crypto/sodium.js';
import { AuditLog, verifyLog, exportLog, verifyInclusion, verifyConsistency, toEntry, canonicalJson, type Signer } from '../src/audit/index.js';
import { CLI } from '../test/helpers/processes.js';

/** Seconds `darwaza audit verify` (the built CLI, its own process) takes, with its exit code checked. */
function cliVerify(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'audit', 'verify', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`darwaza audit verify ${args.join(' ')} failed (${r.status}): ${r.stdout} ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}
import type { AuditEvent } from '../src/model/index.js';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function event(i: number): AuditEvent {
  return {
    event: i % 3 === 0 ? 'queued' : 'delivered',
    time: new Date(Date.UTC(2026, 0, 1) + i * 100).toISOString(),
    messageId: `0190c2a4-7d1e-7b3c-9a4f-${String(i).padStart(12, '0')}`,
    source: 'ehr-main',
    destination: i % 5 === 0 ? 'research-eu' : 'nhsp-pk',
    purpose: 'TREAT',
    decision: 'permit',
    ruleIds: ['pk-residency', 'consent-required'],
    policySha256: 'ab'.repeat(32),
    consentId: `Consent/c-${i % 1000}`,
    consentVersion: '2',
    patientToken: `tok${String(i % 50_000).padStart(40, '0')}`,
    dataClasses: ['Observation'],
  };
}

async function makeSigner(): Promise<Signer> {
  const sodium = await getSodium();
  const kp = sodium.crypto_sign_keypair();
  return { keyId: 'bench', publicKey: kp.publicKey, sign: (b) => sodium.crypto_sign_detached(b, kp.privateKey) };
}

/** Entries/s appended (in the ack's transaction), and entries/s including the batched tree build after. */
function appendRate(dir: string, n: number, withMerkle: boolean): number {
  return appendRates(dir, n, withMerkle).append;
}

const buildRates: number[] = [];

function appendRates(dir: string, n: number, withMerkle: boolean): { append: number } {
  const db = openDatabase(join(dir, `append-${withMerkle}-${Math.random()}.db`));
  const log = AuditLog.open(db);
  db.exec('CREATE TABLE IF NOT EXISTS bench_plain (idx INTEGER PRIMARY KEY, entry TEXT NOT NULL) STRICT');
  const plain = db.prepare('INSERT INTO bench_plain (idx, entry) VALUES (?, ?)');
  const events = Array.from({ length: n }, (_, i) => event(i));
  const t0 = performance.now();
  for (let i = 0; i < n; i += 64) {
    const batch = events.slice(i, i + 64);
    db.transaction(() => {
      if (withMerkle) log.append(batch);
      else batch.forEach((e, j) => plain.run(i + j, canonicalJson(toEntry(e).entry)));
    })();
  }
  const secs = (performance.now() - t0) / 1000;
  if (withMerkle) {
    // The tree is built after the appends, in batches (off the acknowledgement path): its own cost.
    const t1 = performance.now();
    while (log.build(5_000) > 0);
    buildRates.push(n / (secs + (performance.now() - t1) / 1000));
  }
  db.close();
  return { append: n / secs };
}

export async function run(): Promise<Record<string, string | number>> {
  const N = Number(process.env.AUDIT_BENCH_ENTRIES ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-bench-audit-'));
  try {
    const signer = await makeSigner();
    // 1. append
    const merkle: number[] = [];
    const plain: number[] = [];
    for (let r = 0; r < 3; r++) {
      merkle.push(appendRate(dir, 20_000, true));
      plain.push(appendRate(dir, 20_000, false));
    }
    // 2. build the big log fast: big transactions, heads every 100k
    // Where the CLI looks for it: data/darwaza.db.
    const db = openDatabase(join(dir, 'data', 'darwaza.db'));
    const log = AuditLog.open(db, { signer });
    const tb = performance.now();
    for (let i = 0; i < N; i += 10_000) {
      log.append(Array.from({ length: Math.min(10_000, N - i) }, (_, j) => event(i + j)));
      if ((i + 10_000) % 100_000 === 0 || i + 10_000 >= N) log.signTreeHead();
    }
    const buildSecs = (performance.now() - tb) / 1000;
    db.pragma('wal_checkpoint(TRUNCATE)');
    const dbBytes = statSync(join(dir, 'data', 'darwaza.db')).size;
    const head = log.latestHead()!;
    const root = Buffer.from(head.rootHash, 'hex');
    // 3. proofs at N
    const proofMs: number[] = [];
    for (let k = 0; k < 2000; k++) {
      const idx = Math.floor(Math.random() * N);
      const t0 = performance.now();
      const p = log.inclusionProof(idx, N);
      proofMs.push(performance.now() - t0);
      if (k % 200 === 0 && !verifyInclusion(p.leafHash, idx, N, p.auditPath, root)) throw new Error('bad proof');
    }
    const consMs: number[] = [];
    const heads = log.heads();
    for (let k = 0; k < 500; k++) {
      const m = 1 + Math.floor(Math.random() * (N - 1));
      const t0 = performance.now();
      const c = log.consistencyProof(m, N);
      consMs.push(performance.now() - t0);
      if (k === 0 && !verifyConsistency(heads[0].treeSize, N, log.consistencyProof(heads[0].treeSize, N), Buffer.from(heads[0].rootHash, 'hex'), root)) throw new Error('bad consistency proof');
      void c;
    }
    // 4. verify from the database, export, verify offline
    const dbVerify: number[] = [];
    const offVerify: number[] = [];
    for (let r = 0; r < 2; r++) {
      const t0 = performance.now();
      const res = await verifyLog(db, signer.publicKey);
      if (!res.ok) throw new Error(`verify failed: ${res.reason}`);
      dbVerify.push((performance.now() - t0) / 1000);
    }
    const out = join(dir, 'export');
    const te = performance.now();
    exportLog(log, { out });
    const exportSecs = (performance.now() - te) / 1000;
    const exportBytes = statSync(join(out, 'entries.ndjson')).size;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const res = await verifyLog(out, signer.publicKey);
      if (!res.ok || res.size !== N) throw new Error(`offline verify failed`);
      offVerify.push((performance.now() - t0) / 1000);
    }
    db.close();
    // 5. the real CLI (bundle), as an auditor runs it: one thread, and one worker per core.
    const cli = { db0: [] as number[], dbN: [] as number[], off0: [] as number[], offN: [] as number[] };
    const cores = String(availableParallelism());
    for (let r = 0; r < 2; r++) {
      cli.db0.push(cliVerify(['--data-dir', join(dir, 'data'), '--workers', '0']));
      cli.dbN.push(cliVerify(['--data-dir', join(dir, 'data'), '--workers', cores]));
      cli.off0.push(cliVerify(['--offline', out, '--workers', '0']));
      cli.offN.push(cliVerify(['--offline', out, '--workers', cores]));
    }
    return {
      entries: N,
      'append entries/s (batches of 64 in transactions, median of 3×20k)': Math.round(median(merkle)),
      'append + batched tree build, entries/s': Math.round(median(buildRates)),
      'baseline: plain insert of the same rows, entries/s': Math.round(median(plain)),
      'append cost vs plain insert (×)': round(median(plain) / median(merkle)),
      'build 1M log (batches of 10k), s': round(buildSecs, 1),
      'inclusion proof at N, median ms': round(median(proofMs), 4),
      'inclusion proof at N, p99 ms': round([...proofMs].sort((a, b) => a - b)[Math.floor(proofMs.length * 0.99)], 4),
      'consistency proof at N, median ms': round(median(consMs), 4),
      'verify from database (with stored hashes), median s': round(median(dbVerify), 1),
      'database bytes per entry (entries + indexes + subtree hashes)': Math.round(dbBytes / N),
      'export N entries, s': round(exportSecs, 1),
      'export bytes per entry': Math.round(exportBytes / N),
      'verify offline export, median of 3, s': round(median(offVerify), 1),
      'CLI verify from database, 1 thread, median s': round(median(cli.db0), 1),
      [`CLI verify from database, ${cores} workers, median s`]: round(median(cli.dbN), 1),
      'CLI verify offline export, 1 thread, median s': round(median(cli.off0), 1),
      [`CLI verify offline export, ${cores} workers, median s`]: round(median(cli.offN), 1),
      'target verify of 1M ≤ 10 s (CLI, workers): database': N < 1_000_000 ? 'n/a (fewer entries)' : median(cli.dbN) <= 10 ? 'met' : 'missed',
      'target verify of 1M ≤ 10 s (CLI, workers): offline': N < 1_000_000 ? 'n/a (fewer entries)' : median(cli.offN) <= 10 ? 'met' : 'missed',
      'machine load average (1 min)': round(loadavg()[0], 2),
      'target inclusion proof ≤ 1 ms': median(proofMs) <= 1 ? 'met' : 'missed',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await run();
  for (const [k, v] of Object.entries(r)) console.log(`${k}: ${v}`);
}
