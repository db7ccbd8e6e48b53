/**
 * WAL checkpoints in the background. SQLite's automatic checkpoint runs inside the COMMIT
 * that crosses its threshold, i.e. inside some sender's acknowledgement; it is turned off
 * on this connection and replaced by a timer: a PASSIVE checkpoint (copies what no reader
 * holds, never waits), and TRUNCATE once the WAL file passes a bound, so the WAL stays
 * bounded even when a reader kept PASSIVE from finishing.
 */
import { statSync } from 'node:fs';
import type { Db } from '../../store/index.js';

export const DEFAULT_CHECKPOINT_MS = 1_000;
export const DEFAULT_WAL_BOUND_BYTES = 64 * 1024 * 1024;
/** SQLite's own default, restored when the store closes (the handle outlives it). */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

export interface CheckpointOptions {
  intervalMs?: number;
  /** TRUNCATE when the WAL file is larger than this. */
  walBoundBytes?: number;
}

/** Commits between two looks at the WAL's size from the commit path (a stat, no I/O). */
const COMMITS_PER_LOOK = 16;

export class BackgroundCheckpoints {
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly bound: number;
  private commits = 0;
  /** Checkpoints run and how many were TRUNCATE (for tests and metrics). */
  readonly counts = { passive: 0, truncate: 0 };

  constructor(
    private readonly db: Db,
    opts: CheckpointOptions = {},
  ) {
    this.bound = opts.walBoundBytes ?? DEFAULT_WAL_BOUND_BYTES;
    if (db.memory) return;
    db.pragma('wal_autocheckpoint = 0');
    this.timer = setInterval(() => this.run(this.bound), opts.intervalMs ?? DEFAULT_CHECKPOINT_MS);
    this.timer.unref();
  }

  /**
   * Called after each group commit. A writer that never yields to the timer (one long burst
   * of work chained in microtasks) would let the WAL grow without end: past twice the bound
   * it is truncated from a microtask queued behind the commit's acknowledgements.
   */
  afterCommit(): void {
    if (!this.timer || ++this.commits < COMMITS_PER_LOOK) return;
    this.commits = 0;
    if (walBytes(this.db) > 2 * this.bound) queueMicrotask(() => this.run(this.bound));
  }

  /** One round: PASSIVE, or TRUNCATE past the bound. Never throws. */
  run(bound = DEFAULT_WAL_BOUND_BYTES): void {
    if (!this.db.open || this.db.inTransaction) return;
    try {
      if (walBytes(this.db) > bound) {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
        this.counts.truncate++;
      } else {
        this.db.pragma('wal_checkpoint(PASSIVE)');
        this.counts.passive++;
      }
    } catch {
      /* busy (another process's reader or writer): the next round tries again */
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.timer && this.db.open) this.db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
  }
}

export function walBytes(db: Db): number {
  try {
    return statSync(`${db.name}-wal`).size;
  } catch {
    return 0;
  }
}
