/**
 * Queue store on SQLite vs PostgreSQL, measured in the same run on this machine:
 *  - accept: messages/s with 64 concurrent accepts (group commit; fsync on for both);
 *  - claim+settle: rows/s claimed 50 at a time and settled as delivered.
 * PostgreSQL is a throwaway local server (test/helpers/postgres.ts), over TCP on 127.0.0.1.
 * On one 2-core machine this shows the cost of the network protocol and of PostgreSQL's
 * commit path, not what a pair of gateways on separate machines would do.
 * Run: npx tsx bench/postgres.ts   (PG_BENCH_N=… messages, default 5000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/store/index.js';
import { SqliteQueueStore, type AcceptWrite, type QueueStore } from '../src/queue/index.js';
import { PostgresQueueStore } from '../src/queue/postgres/index.js';
import { startPostgres } from '../test/helpers/postgres.js';

const N = Number(process.env.PG_BENCH_N ?? 5_000);
const CONCURRENCY = 64;
const payload = Buffer.alloc(2_048, 7);

function write(prefix: string, i: number): AcceptWrite {
  const id = `${prefix}-${i}`;
  return {
    message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
    items: [{ messageId: id, destination: 'nhs-pk', lane: 'normal', payload, contentType: 'application/json', cipherScope: 'd:1', patientTokens: [`t${i % 500}`], context: '{"purpose":"TREAT"}' }],
    audit: [],
  };
}

async function measure(name: string, store: QueueStore): Promise<{ accept: number; drain: number }> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await store.accept(write(name, next++));
    }),
  );
  const accept = N / ((performance.now() - t0) / 1000);
  const t1 = performance.now();
  let done = 0;
  for (;;) {
    const rows = await store.claim('nhs-pk', 50);
    if (!rows.length) break;
    await store.settle(rows.map((r) => ({ kind: 'delivered' as const, id: r.id, status: 200 })));
    done += rows.length;
  }
  if (done !== N) throw new Error(`${name}: drained ${done} of ${N}`);
  const drain = N / ((performance.now() - t1) / 1000);
  return { accept, drain };
}

/** Queue store figures: SQLite and a throwaway local PostgreSQL, in this process (the store alone, not a gateway). */
export async function run(): Promise<Record<string, string | number>> {
  const teardowns: (() => Promise<void> | void)[] = [];
  const fakeTest = { teardown: (fn: () => Promise<void> | void) => void teardowns.push(fn) } as unknown as Parameters<typeof startPostgres>[0];
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-bench-'));
  try {
    const db = openDatabase(join(dir, 'q.db'));
    const sqlite = SqliteQueueStore.open(db, { quotaBytes: 1e12, minFreeDiskBytes: 0 });
    const s = await measure('sqlite', sqlite);
    await sqlite.close();
    db.close();

    const server = await startPostgres(fakeTest);
    const pgStore = await PostgresQueueStore.open({ url: server.url, quotaBytes: 1e12, nodeId: 'bench' });
    const p = await measure('pg', pgStore);
    await pgStore.close();

    const f = (x: number) => Math.round(x).toLocaleString('en');
    return {
      'postgres.messages': `${N} of 2 KiB, ${CONCURRENCY} concurrent accepts`,
      'postgres.sqlite_accept_per_s': f(s.accept),
      'postgres.pg_accept_per_s': f(p.accept),
      'postgres.accept_pg_over_sqlite': Number((p.accept / s.accept).toFixed(2)),
      'postgres.sqlite_claim_settle_per_s': f(s.drain),
      'postgres.pg_claim_settle_per_s': f(p.drain),
      'postgres.claim_settle_pg_over_sqlite': Number((p.drain / s.drain).toFixed(2)),
    };
  } finally {
    for (const fn of teardowns.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.table(r));
}
