/**
 * accept(): a group commit. Every call made in the same turn of the event loop (or until
 * maxBatch are pending) shares one transaction; each promise resolves only after COMMIT
 * returned, and with synchronous=FULL that means the WAL was fsynced. Each write runs in
 * its own savepoint, so one bad write fails alone.
 *
 * Only what the acknowledgement needs is in that transaction: the rows (each carries its
 * patient tokens) and the audit leaves. The patient-token index is written after the
 * commit (PatientIndex), and WAL checkpoints run in the background (BackgroundCheckpoints).
 */
import { queueItemAad } from '../../crypto/index.js';
import { DuplicateIdempotencyKeyError, QuotaExceededError, type AcceptWrite } from '../types.js';
import { storedLaneOf } from '../lanes.js';
import type { StoreContext } from './context.js';
import type { DiskGuard } from './disk.js';
import { DEFAULT_QUOTA_RETRY_AFTER_S } from './options.js';
import type { IndexRow, PatientIndex } from './patient-index.js';
import { toBuffer } from './rows.js';
import { mapSqliteError, validateWrite } from './validate.js';

interface Pending {
  write: AcceptWrite;
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class GroupCommit {
  private pending: Pending[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly writeOne: (w: AcceptWrite, now: number, scopes: Set<string>) => IndexRow[];
  private readonly txAccept: (batch: Pending[], failures: (Error | undefined)[], now: number, indexed: IndexRow[], carried: IndexRow[]) => void;

  constructor(
    private readonly c: StoreContext,
    private readonly disk: DiskGuard,
    private readonly maxBatch: number,
    private readonly index: PatientIndex,
    /** Runs after each commit, its promises settled (the WAL's bound). */
    private readonly afterCommit: () => void = () => {},
  ) {
    const { db, s } = c;
    this.writeOne = db.transaction((w: AcceptWrite, now: number, scopes: Set<string>) => {
      const m = w.message;
      const indexed: IndexRow[] = [];
      if (w.idempotency) {
        const prior = s.getIdem.get(w.idempotency.key) as { response: string; request_sha256: string | null } | undefined;
        if (prior) throw new DuplicateIdempotencyKeyError(prior.response, prior.request_sha256 ?? undefined);
      }
      s.insMessage.run(
        m.id,
        m.receivedAt,
        m.source,
        m.purpose,
        m.format,
        m.outcomes,
        m.idempotencyKey ?? w.idempotency?.key ?? null,
        w.items.length,
      );
      if (w.idempotency) s.insIdem.run(w.idempotency.key, m.id, w.idempotency.response, now, w.idempotency.requestSha256 ?? null);
      for (const it of w.items) {
        const sealed = toBuffer(c.cipher.encrypt(it.payload, it.cipherScope, queueItemAad(it.messageId, it.destination)));
        const info = s.insItem.run(
          it.messageId,
          it.destination,
          // All four link lanes, so the claim's (lane, seq) order is strict across the whole backlog.
          storedLaneOf(it),
          now,
          now,
          now,
          it.contentType,
          it.cipherScope,
          JSON.stringify(it.patientTokens),
          it.context,
          sealed,
          it.payload.byteLength,
        );
        if (it.patientTokens.length) indexed.push({ seq: info.lastInsertRowid, tokens: it.patientTokens });
        scopes.add(it.cipherScope);
      }
      if (w.audit.length) c.audit.append(w.audit);
      return indexed;
    });

    this.txAccept = db.transaction((batch: Pending[], failures: (Error | undefined)[], now: number, indexed: IndexRow[], carried: IndexRow[]) => {
      // The previous commits' index rows ride in this one (no fsync of their own).
      for (const r of this.index.flush()) carried.push(r);
      const scopes = new Set<string>();
      for (const p of batch) {
        try {
          for (const r of this.writeOne(p.write, now, scopes)) indexed.push(r);
          failures.push(undefined);
        } catch (err) {
          failures.push(mapSqliteError(err));
        }
      }
      for (const scope of scopes) s.touchScope.run(scope, now);
    });
  }

  /**
   * Stores one message and its per-destination items. Resolves only after the
   * transaction holding it committed (fsynced). Rejects with QuotaExceededError
   * before writing anything when the queue is at quota or the disk nearly full.
   */
  accept(write: AcceptWrite): Promise<void> {
    if (this.closed) return Promise.reject(new Error('queue store is closed'));
    let bytes: number;
    try {
      bytes = validateWrite(write);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.disk.isLow()) {
      return Promise.reject(new QuotaExceededError('the disk holding the queue is nearly full', DEFAULT_QUOTA_RETRY_AFTER_S));
    }
    if (!this.c.held.fits(bytes)) {
      return Promise.reject(new QuotaExceededError('the queue is at its disk quota', DEFAULT_QUOTA_RETRY_AFTER_S));
    }
    this.c.held.reserve(bytes);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ write, bytes, resolve, reject });
      if (this.pending.length >= this.maxBatch) {
        this.flush();
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending accept() now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const started = performance.now();
    const failures: (Error | undefined)[] = [];
    const indexed: IndexRow[] = [];
    const carried: IndexRow[] = [];
    let total = 0;
    for (const p of batch) total += p.bytes;
    try {
      this.txAccept(batch, failures, this.c.clock(), indexed, carried);
    } catch (err) {
      this.index.add(carried);
      this.c.held.unreserve(total);
      const mapped = mapSqliteError(err);
      for (const p of batch) p.reject(mapped);
      return;
    }
    this.c.held.unreserve(total);
    this.index.add(indexed);
    let stored = 0;
    batch.forEach((p, i) => {
      if (!failures[i]) stored += p.bytes;
    });
    this.c.held.change(stored);
    this.c.observer.committed?.(batch.length, performance.now() - started);
    batch.forEach((p, i) => {
      const f = failures[i];
      if (f) p.reject(f);
      else p.resolve();
    });
    this.afterCommit();
  }

  /** Commits what is pending and refuses further writes. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}
