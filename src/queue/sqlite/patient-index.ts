/**
 * The patient-token index (queue_item_patients), written after the acknowledgement.
 *
 * accept() commits the queue rows (each carries its tokens in patient_tokens) and hands
 * the new rows here; their index rows are written at the start of the next group commit,
 * or by a short idle timer when no commit follows. Every reader that must see every
 * acknowledged message closes the window first:
 * - withdrawal (and erasure through it) calls flush() inside its own transaction;
 * - after a crash the rows still pending are gone from memory, so opening the store
 *   indexes the tail: every row past the highest indexed seq (seqs only grow).
 * Readers in another process (disclosure reports) scan that same tail (see tailSql).
 */
import type { Db } from '../../store/index.js';

/** Rows of queue_items past the index's high mark: the ones that may not be indexed yet. */
export const UNINDEXED_TAIL = 'seq > (SELECT COALESCE(MAX(seq), 0) FROM queue_item_patients)';

const IDLE_FLUSH_MS = 25;

/** One committed queue row and the tokens it is to be found under. */
export interface IndexRow {
  seq: number | bigint;
  tokens: string[];
}

export class PatientIndex {
  private pending: IndexRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly ins;
  private readonly tail;
  private readonly txFlush: () => void;

  constructor(private readonly db: Db) {
    // INSERT … SELECT: a row purged before its index was written is simply skipped.
    this.ins = db.prepare('INSERT OR IGNORE INTO queue_item_patients (token, seq) SELECT ?, seq FROM queue_items WHERE seq = ?');
    this.tail = db.prepare(`SELECT seq, patient_tokens FROM queue_items WHERE ${UNINDEXED_TAIL} ORDER BY seq`);
    this.txFlush = db.transaction(() => {
      this.writePending();
    });
    db.transaction(() => {
      for (const r of this.tail.all() as Array<{ seq: number; patient_tokens: string }>) {
        for (const token of new Set(JSON.parse(r.patient_tokens) as string[])) this.ins.run(token, r.seq);
      }
    })();
  }

  /** Rows that committed (call only after their COMMIT returned). */
  add(rows: IndexRow[]): void {
    if (!rows.length) return;
    for (const r of rows) this.pending.push(r);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        try {
          this.flush();
        } catch {
          /* the store was closed under us; the next open indexes the tail */
        }
      }, IDLE_FLUSH_MS);
      this.timer.unref();
    }
  }

  /**
   * Writes every pending index row. Inside a transaction it joins it (the next group
   * commit, a withdrawal) and returns the rows it wrote: if that transaction rolls back,
   * the caller hands them back with add(). Outside one it commits its own.
   */
  flush(): IndexRow[] {
    if (!this.pending.length) return [];
    if (this.db.inTransaction) return this.writePending();
    try {
      this.txFlush();
    } catch (err) {
      this.pending = this.lastWritten.concat(this.pending);
      throw err;
    }
    return [];
  }

  private lastWritten: IndexRow[] = [];

  private writePending(): IndexRow[] {
    const rows = this.pending;
    this.pending = [];
    this.lastWritten = rows;
    try {
      for (const r of rows) for (const token of new Set(r.tokens)) this.ins.run(token, r.seq);
    } catch (err) {
      // Nothing was lost: the rows stay pending for the next try (the enclosing transaction rolls back).
      this.pending = rows.concat(this.pending);
      this.lastWritten = [];
      throw err;
    }
    return rows;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // A handle closed first loses only the pending rows, which the next open indexes.
    if (this.db.open) this.flush();
  }
}
