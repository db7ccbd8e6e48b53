/**
 * Worker threads for verifying a large log: the per-entry checks and leaf hashes (most of
 * verify's CPU) run on every core, while the calling thread builds the tree in order.
 * Batches are answered in the order they were given; a worker that fails rejects its
 * batches (verify then throws, it never reports a log as good). Where no worker can be
 * started (inside the single binary there is no bundle file to load), the batches are
 * checked on the calling thread by the same function.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkLeaves, type LeafBatch, type LeafTask } from './leaf-check.js';
// Side effect: puts the worker loop in the bundle, where workers load it from.
import { AUDIT_VERIFY_WORKER_FLAG } from './verify-worker-main.js';

/** Below this many entries, starting workers costs more than it saves. */
export const PARALLEL_VERIFY_MIN_ENTRIES = 50_000;

export interface LeafCheckers {
  /** Worker threads running (0: batches are checked on the calling thread). */
  threads: number;
  check(task: LeafTask): Promise<LeafBatch>;
  close(): Promise<void>;
}

function isSea(): boolean {
  try {
    return (createRequire(import.meta.url)('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

function spawn(): Worker {
  const here = import.meta.url;
  const data = { [AUDIT_VERIFY_WORKER_FLAG]: true };
  if (here.endsWith('.cjs') || here.endsWith('.js')) {
    const bundle = new URL(here).pathname;
    // argv[1] of an eval worker is "[worker eval]", so the bundle's CLI entry does not run again.
    return new Worker(`require(${JSON.stringify(bundle)});`, { eval: true, workerData: data });
  }
  return new Worker(new URL('./verify-worker-main.ts', here), { workerData: data });
}

/** `size` workers (0: the calling thread). */
export function leafCheckers(size: number): LeafCheckers {
  if (size <= 0 || isSea()) {
    return { threads: 0, check: async (task) => checkLeaves(task), close: async () => {} };
  }
  const pending = new Map<number, { resolve: (b: LeafBatch) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let failed: Error | undefined;
  const workers = Array.from({ length: size }, () => {
    const w = spawn();
    w.on('message', (m: { id: number; batch: LeafBatch }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      p?.resolve(m.batch);
    });
    const fail = (why: string) => {
      failed ??= new Error(`an audit verify worker failed (${why}); the log was not verified`);
      for (const p of pending.values()) p.reject(failed);
      pending.clear();
    };
    w.on('error', (err) => fail(`error: ${err instanceof Error ? err.message : String(err)}`));
    w.on('exit', (code) => {
      if (code !== 0) fail(`exit ${code}`);
    });
    return w;
  });
  return {
    threads: workers.length,
    check(task) {
      if (failed) return Promise.reject(failed);
      const id = seq++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        workers[id % workers.length].postMessage({ id, task }, task.kind === 'lines' ? [task.bytes] : []);
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/**
 * Workers for a log of `entries`: one per core when it is large enough, else none. Run from
 * the TypeScript sources (development), a worker could only load them under a loader that
 * reaches worker threads, so there the default is none; the bundle and the CLI use workers.
 */
export function defaultVerifyWorkers(entries: number): number {
  if (import.meta.url.endsWith('.ts')) return 0;
  return entries >= PARALLEL_VERIFY_MIN_ENTRIES ? Math.min(availableParallelism(), 8) : 0;
}
