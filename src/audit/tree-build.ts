/**
 * Builds the Merkle tree behind the appends, off the acknowledgement path: a timer hashes
 * what was appended since the last run, in bounded batches (one short transaction each),
 * so the tree stays close behind the log and a tree head or proof finds little to do.
 * A failed run is retried at the next tick: the tree is derived from the entries.
 */
import type { AuditLog } from './log.js';

export interface TreeBuildOptions {
  /** How often to look for unbuilt entries (ms). */
  everyMs?: number;
  /** Leaves per transaction: bounds how long one run holds the event loop. */
  maxLeaves?: number;
  onError?: (err: unknown) => void;
}

export function scheduleTreeBuild(log: Pick<AuditLog, 'build'>, opts: TreeBuildOptions = {}): { stop(): void; runNow(): number } {
  const maxLeaves = opts.maxLeaves ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const runNow = (): number => {
    try {
      return log.build(maxLeaves);
    } catch (err) {
      opts.onError?.(err);
      return 0;
    }
  };
  const tick = () => {
    if (stopped) return;
    // A full batch means more is waiting: continue on the next turn, letting commits in between.
    const next = runNow() >= maxLeaves ? 0 : (opts.everyMs ?? 200);
    timer = setTimeout(tick, next);
    timer.unref();
  };
  timer = setTimeout(tick, opts.everyMs ?? 200);
  timer.unref();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    runNow,
  };
}
