/**
 * accept() on PostgreSQL: a group commit. Calls pending while the previous commit is in
 * flight (or within one turn of the event loop) share one transaction of multi-row INSERTs;
 * each promise resolves only after COMMIT returned (synchronous_commit: the WAL is flushed).
 * A write that cannot be stored (idempotency key already used, message id reused) fails alone:
 * conflicts are found with ON CONFLICT DO NOTHING … RETURNING instead of per-write savepoints.
 */
import { queueItemAad } from '../../crypto/index.js';
import { storedLaneOf } from '../lanes.js';
import { toBuffer, validateWrite } from '../sqlite/index.js';
import { DuplicateIdempotencyKeyError, QueueWriteError, QuotaExceededError, type AcceptWrite, type NewQueueItem } from '../types.js';
import { auditInTx, changeHeld, chunks, inTx, valuesList, type PgContext, type Queryable } from './context.js';
import { mapPgError } from './errors.js';
import { ROWS_PER_INSERT } from './options.js';

interface Pending {
  write: AcceptWrite;
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  failure?: Error;
}

/** The stored lane: 0 emergency, 1 treatment, 2 public health, 3 research — the same number SQLite keeps. */
export function storedLane(it: Pick<NewQueueItem, 'lane' | 'context'>): number {
  return storedLaneOf(it);
}

/** Column types of the items VALUES list: the payload is bytes, not text. */
const ITEM_CASTS = ['text', 'text', 'smallint', 'bigint', 'text', 'text', 'text', 'text', 'bytea', 'integer'];

export class PgGroupCommit {
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly c: PgContext,
    private readonly maxBatch: number,
  ) {}

  accept(write: AcceptWrite): Promise<void> {
    if (this.closed) return Promise.reject(new Error('queue store is closed'));
    let bytes: number;
    try {
      bytes = validateWrite(write);
      const dests = new Set(write.items.map((i) => i.destination));
      if (dests.size !== write.items.length) throw new QueueWriteError('a destination appears twice for one message');
      this.c.txAudit?.check?.(write.audit);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.c.held.fits(bytes)) return Promise.reject(new QuotaExceededError('the queue is at its disk quota', 30));
    this.c.held.reserve(bytes);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ write, bytes, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    if (this.pending.length >= this.maxBatch) {
      void this.flush();
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Commits what is pending (one transaction at a time; what arrives meanwhile forms the next batch). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0, this.maxBatch);
    this.flushing = this.commit(batch);
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
      if (this.pending.length) this.schedule();
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let total = 0;
    for (const p of batch) total += p.bytes;
    const now = this.c.clock();
    try {
      await inTx(this.c, (q) => this.writeBatch(q, batch, now));
    } catch (err) {
      this.c.held.unreserve(total);
      const mapped = mapPgError(err);
      for (const p of batch) p.reject(mapped);
      return;
    }
    this.c.held.unreserve(total);
    const ok = batch.filter((p) => !p.failure);
    changeHeld(this.c, ok.reduce((s, p) => s + p.bytes, 0));
    this.c.observer.committed?.(batch.length, performance.now() - started);
    const events = ok.flatMap((p) => p.write.audit);
    let auditErr: Error | undefined;
    try {
      if (events.length) this.c.audit.append(events);
    } catch (err) {
      auditErr = err instanceof Error ? err : new Error('audit append failed');
    }
    for (const p of batch) {
      if (p.failure) p.reject(p.failure);
      else if (auditErr) p.reject(auditErr);
      else p.resolve();
    }
  }

  /** The batch's INSERTs; marks writes that cannot be stored (they fail alone, the rest commit). */
  private async writeBatch(q: Queryable, batch: Pending[], now: number): Promise<void> {
    // Within the batch: a reused message id or idempotency key fails (the first one wins).
    const ids = new Set<string>();
    const keys = new Map<string, Pending>();
    for (const p of batch) {
      p.failure = undefined;
      const m = p.write.message;
      if (ids.has(m.id)) p.failure = new QueueWriteError('message id is already queued');
      ids.add(m.id);
      const key = p.write.idempotency?.key;
      if (key && !p.failure) {
        const first = keys.get(key);
        if (first) p.failure = new DuplicateIdempotencyKeyError(first.write.idempotency!.response, first.write.idempotency!.requestSha256);
        else keys.set(key, p);
      }
    }
    // Idempotency keys already stored (by this node or another) → the earlier answer.
    const withKey = batch.filter((p) => !p.failure && p.write.idempotency);
    if (withKey.length) {
      for (const part of chunks(withKey, ROWS_PER_INSERT)) {
        const params = part.flatMap((p) => [p.write.idempotency!.key, p.write.message.id, p.write.idempotency!.response, now, p.write.idempotency!.requestSha256 ?? null]);
        const r = await q.query<{ key: string }>(
          `INSERT INTO queue_idempotency (key, message_id, response, created_at, request_sha256) VALUES ${valuesList(part.length, 5)}
           ON CONFLICT (key) DO NOTHING RETURNING key`,
          params,
        );
        const inserted = new Set(r.rows.map((x) => x.key));
        const clashed = part.filter((p) => !inserted.has(p.write.idempotency!.key));
        if (clashed.length) {
          const prior = await q.query<{ key: string; response: string; request_sha256: string | null }>(
            'SELECT key, response, request_sha256 FROM queue_idempotency WHERE key = ANY($1)',
            [clashed.map((p) => p.write.idempotency!.key)],
          );
          const byKey = new Map(prior.rows.map((x) => [x.key, x]));
          for (const p of clashed) {
            const x = byKey.get(p.write.idempotency!.key);
            p.failure = new DuplicateIdempotencyKeyError(x?.response ?? '', x?.request_sha256 ?? undefined);
          }
        }
      }
    }
    // Messages: an id already stored fails that write (and takes back its idempotency key).
    const live = batch.filter((p) => !p.failure);
    for (const part of chunks(live, ROWS_PER_INSERT)) {
      const params = part.flatMap(({ write: w }) => [
        w.message.id,
        w.message.receivedAt,
        w.message.source,
        w.message.purpose,
        w.message.format,
        w.message.outcomes,
        w.message.idempotencyKey ?? w.idempotency?.key ?? null,
        w.items.length,
      ]);
      const r = await q.query<{ id: string }>(
        `INSERT INTO queue_messages (id, received_at, source, purpose, format, outcomes, idempotency_key, queued_items)
         VALUES ${valuesList(part.length, 8)} ON CONFLICT (id) DO NOTHING RETURNING id`,
        params,
      );
      const inserted = new Set(r.rows.map((x) => x.id));
      const reused = part.filter((p) => !inserted.has(p.write.message.id));
      for (const p of reused) p.failure = new QueueWriteError('message id is already queued');
      const keysBack = reused.map((p) => p.write.idempotency?.key).filter((k): k is string => !!k);
      if (keysBack.length) await q.query('DELETE FROM queue_idempotency WHERE key = ANY($1)', [keysBack]);
    }
    // Items, their patient index, and the cipher scopes they use.
    const items = batch.filter((p) => !p.failure).flatMap((p) => p.write.items);
    const scopes = new Set<string>();
    for (const part of chunks(items, ROWS_PER_INSERT)) {
      const params: unknown[] = [];
      for (const it of part) {
        const sealed = toBuffer(this.c.cipher.encrypt(it.payload, it.cipherScope, queueItemAad(it.messageId, it.destination)));
        params.push(it.messageId, it.destination, storedLane(it), now, it.contentType, it.cipherScope, JSON.stringify(it.patientTokens), it.context, sealed, it.payload.byteLength);
        scopes.add(it.cipherScope);
      }
      const r = await q.query<{ seq: number; message_id: string; destination: string }>(
        `INSERT INTO queue_items (message_id, destination, lane, enqueued_at, content_type, cipher_scope, patient_tokens, context, payload, payload_bytes,
                                  state, attempts, next_attempt_at, updated_at)
         SELECT v.m, v.d, v.l, v.t, v.ct, v.cs, v.pt, v.cx, v.p, v.pb, 'ready', 0, v.t, v.t
           FROM (VALUES ${valuesList(part.length, 10, ITEM_CASTS)}) AS v(m, d, l, t, ct, cs, pt, cx, p, pb)
         RETURNING seq, message_id, destination`,
        params,
      );
      const seqOf = new Map(r.rows.map((x) => [`${x.message_id}\u0000${x.destination}`, x.seq]));
      const pairs: unknown[] = [];
      for (const it of part) {
        const seq = seqOf.get(`${it.messageId}\u0000${it.destination}`);
        for (const token of new Set(it.patientTokens)) pairs.push(token, seq);
      }
      for (const pp of chunks(pairs, ROWS_PER_INSERT * 2)) {
        await q.query(`INSERT INTO queue_item_patients (token, seq) VALUES ${valuesList(pp.length / 2, 2)} ON CONFLICT DO NOTHING`, pp);
      }
    }
    if (scopes.size) {
      const list = [...scopes].sort();
      await q.query(
        `INSERT INTO queue_scopes (scope, last_used_at) SELECT s, $2::bigint FROM unnest($1::text[]) AS s
         ON CONFLICT (scope) DO UPDATE SET last_used_at = excluded.last_used_at`,
        [list, now],
      );
    }
    await auditInTx(this.c, q, batch.filter((p) => !p.failure).flatMap((p) => p.write.audit));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.pending.length || this.flushing) await this.flush();
  }
}
