/**
 * QueueStore: the durable queue in the gateway's SQLite file.
 *
 * - accept() is a group commit: every call made in the same turn of the event loop
 *   (or until maxBatch are pending) shares one transaction; each promise resolves only
 *   after COMMIT returned, and with synchronous=FULL that means the WAL was fsynced.
 *   Each write runs in its own savepoint, so one bad write fails alone.
 * - claim() hands out ready rows of one destination, emergency lane first, then in
 *   enqueue order, decrypting payloads (a payload that fails authentication is
 *   dead-lettered on the spot, never thrown).
 * - settle() applies the dispatcher's results for many rows in one transaction,
 *   appending the matching audit events in that same transaction.
 * Statements are prepared once in the constructor.
 */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditEvent, AuditSink, PayloadCipher } from '../model/index.js';
import { migrate, type Db } from '../store/index.js';
import { queueItemAad } from '../crypto/index.js';
import { integrityFailureEvent } from '../audit/index.js';
import { QUEUE_MIGRATIONS } from './schema.js';
import {
  DuplicateIdempotencyKeyError,
  LANE_ORDER,
  QueueWriteError,
  QuotaExceededError,
  type AcceptWrite,
  type ClaimedItem,
  type CountRow,
  type ItemState,
  type ItemStatus,
  type Lane,
  type ListFilter,
  type MessageStatus,
  type PurgeFilter,
  type QueueObserver,
  type RetryFilter,
  type Settlement,
  type StoredState,
} from './types.js';

export const DEFAULT_MAX_BATCH = 512;
/** A claimed row's lease (informational: recoverInFlight() frees every in-flight row at start-up). */
export const DEFAULT_LEASE_MS = 5 * 60_000;
/** Refuse new messages when the file system holding the database has less than this free. */
export const DEFAULT_MIN_FREE_DISK_BYTES = 64 * 1024 * 1024;
export const DEFAULT_DISK_CHECK_MS = 1_000;
export const DEFAULT_QUOTA_RETRY_AFTER_S = 30;
/**
 * synchronous level for the dispatcher's bookkeeping transactions (claim, settle).
 * They need no fsync of their own: losing the last few of them in a power cut only
 * means rows go back to ready and are re-sent (the receiver de-duplicates by
 * Idempotency-Key), and the WAL is replayed as a prefix, so the next FULL commit
 * (an accept) makes them durable too. Acknowledged messages are always FULL.
 */
export const DEFAULT_BOOKKEEPING_SYNC = 'NORMAL';
const PURGE_CHUNK = 500;

export interface QueueStoreOptions {
  /** Bytes of undelivered payloads (ready, in flight, dead) the queue may hold. */
  quotaBytes: number;
  cipher?: PayloadCipher;
  audit?: AuditSink;
  clock?: () => number;
  observer?: QueueObserver;
  /** Flush a group commit at once when this many accept() calls are pending. */
  maxBatch?: number;
  leaseMs?: number;
  /** 0 disables the free-disk check. */
  minFreeDiskBytes?: number;
  diskCheckMs?: number;
  /** Overrides the free-space probe (tests). */
  freeDiskBytes?: () => number;
  /** 'FULL' fsyncs every claim and settle too (slower; see DEFAULT_BOOKKEEPING_SYNC). */
  bookkeepingSync?: 'NORMAL' | 'FULL';
}

const IDENTITY_CIPHER: PayloadCipher = {
  encrypt: (plain) => plain,
  decrypt: (cipher) => cipher,
  shred: () => {},
};
const NO_AUDIT: AuditSink = { append: () => {} };

interface Pending {
  write: AcceptWrite;
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface ItemRow {
  seq: number;
  message_id: string;
  destination: string;
  lane: number;
  state: StoredState;
  attempts: number;
  enqueued_at: number;
  next_attempt_at: number;
  updated_at: number;
  delivered_at: number | null;
  last_error: string | null;
  last_status: number | null;
  payload_bytes: number;
}

interface ClaimRow {
  seq: number;
  message_id: string;
  destination: string;
  lane: number;
  attempts: number;
  enqueued_at: number;
  content_type: string;
  cipher_scope: string;
  patient_tokens: string;
  context: string;
  payload: Buffer | null;
  payload_bytes: number;
}

interface ChangedRow {
  message_id: string;
  destination: string;
  payload_bytes: number;
  enqueued_at: number;
  /** JSON array; the first is the token the message's other audit entries carry. */
  patient_tokens: string;
}

/** The patient token for an audit entry about this row (as received/decided/queued carry it). */
const tokenOf = (r: ChangedRow): { patientToken?: string } => {
  const t = (JSON.parse(r.patient_tokens) as string[])[0];
  return t ? { patientToken: t } : {};
};

const HOLDS_PAYLOAD = "('ready', 'inflight', 'dead')";

const toBuffer = (u8: Uint8Array): Buffer =>
  Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);

const iso = (ms: number | null | undefined): string | undefined =>
  ms === null || ms === undefined ? undefined : new Date(ms).toISOString();

/** Stored state + attempts → what the sender and operator see. */
export function publicState(state: StoredState, attempts: number): ItemState {
  switch (state) {
    case 'ready':
      return attempts > 0 ? 'retrying' : 'queued';
    case 'inflight':
      return 'delivering';
    default:
      return state;
  }
}

/** Public state → SQL condition on the stored columns (for list/filters). */
function stateCondition(state: ItemState): string {
  switch (state) {
    case 'queued':
      return "state = 'ready' AND attempts = 0";
    case 'retrying':
      return "state = 'ready' AND attempts > 0";
    case 'delivering':
      return "state = 'inflight'";
    case 'delivered':
    case 'dead':
    case 'withdrawn':
    case 'purged':
      return `state = '${state}'`;
    default:
      throw new QueueWriteError(`unknown state: ${String(state)}`);
  }
}

function laneName(lane: number): Lane {
  return lane === LANE_ORDER.emergency ? 'emergency' : 'normal';
}

/** A field-naming check of one write: the ingress/pipeline bug shows up as a clear error. */
function validateWrite(w: AcceptWrite): number {
  const m = w?.message;
  if (!m || typeof m !== 'object') throw new QueueWriteError('message is required');
  for (const f of ['id', 'receivedAt', 'source', 'purpose', 'format', 'outcomes'] as const) {
    if (typeof m[f] !== 'string' || (f === 'id' && m[f].length === 0)) {
      throw new QueueWriteError(`message.${f} must be a string`);
    }
  }
  if (!Array.isArray(w.items)) throw new QueueWriteError('items must be an array');
  if (!Array.isArray(w.audit)) throw new QueueWriteError('audit must be an array');
  let bytes = 0;
  w.items.forEach((it, i) => {
    if (it.messageId !== m.id) throw new QueueWriteError(`items[${i}].messageId must equal message.id`);
    if (typeof it.destination !== 'string' || !it.destination) throw new QueueWriteError(`items[${i}].destination must be a string`);
    if (it.lane !== 'emergency' && it.lane !== 'normal') throw new QueueWriteError(`items[${i}].lane must be emergency or normal`);
    if (!(it.payload instanceof Uint8Array)) throw new QueueWriteError(`items[${i}].payload must be bytes`);
    if (typeof it.contentType !== 'string') throw new QueueWriteError(`items[${i}].contentType must be a string`);
    if (typeof it.cipherScope !== 'string' || !it.cipherScope) throw new QueueWriteError(`items[${i}].cipherScope must be a string`);
    if (!Array.isArray(it.patientTokens) || it.patientTokens.some((t) => typeof t !== 'string')) {
      throw new QueueWriteError(`items[${i}].patientTokens must be an array of strings`);
    }
    if (typeof it.context !== 'string') throw new QueueWriteError(`items[${i}].context must be a string`);
    bytes += it.payload.byteLength;
  });
  if (w.idempotency && (typeof w.idempotency.key !== 'string' || typeof w.idempotency.response !== 'string')) {
    throw new QueueWriteError('idempotency.key and idempotency.response must be strings');
  }
  return bytes;
}

/** SQLite errors → errors that say what happened without any value from the row. */
function mapSqliteError(err: unknown): Error {
  if (err instanceof QueueWriteError || err instanceof DuplicateIdempotencyKeyError || err instanceof QuotaExceededError) {
    return err;
  }
  const code = (err as { code?: string })?.code ?? '';
  if (code === 'SQLITE_FULL') return new QuotaExceededError('the disk holding the queue is full', DEFAULT_QUOTA_RETRY_AFTER_S);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new QueueWriteError('message id is already queued');
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') return new QueueWriteError('a destination appears twice for one message');
  return new Error(`queue write failed (${code || (err as Error)?.name || 'error'})`);
}

export class QueueStore {
  private readonly db: Db;
  private readonly cipher: PayloadCipher;
  private readonly audit: AuditSink;
  private readonly clock: () => number;
  private readonly observer: QueueObserver;
  private readonly maxBatch: number;
  private readonly leaseMs: number;
  private readonly quotaBytes: number;
  private readonly minFreeDiskBytes: number;
  private readonly diskCheckMs: number;
  private readonly freeDiskBytes: () => number;
  private readonly relaxedBookkeeping: boolean;

  private pending: Pending[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Bytes of payloads held (ready, in flight, dead): kept exact in memory, initialised from the index. */
  private heldBytes = 0;
  /** Bytes of accepted writes waiting for their group commit. */
  private reservedBytes = 0;
  private diskCheckedAt = -Infinity;
  private diskLow = false;

  private readonly s: ReturnType<QueueStore['prepare']>;
  private readonly txAccept: (batch: Pending[], failures: (Error | undefined)[], now: number) => void;
  private readonly writeOne: (w: AcceptWrite, now: number, scopes: Set<string>) => void;
  private readonly txSettle: (settlements: Settlement[], now: number) => void;
  private readonly txClaim: (destination: string, limit: number, now: number) => ClaimedItem[];

  static open(db: Db, opts: QueueStoreOptions): QueueStore {
    migrate(db, 'queue', QUEUE_MIGRATIONS);
    return new QueueStore(db, opts);
  }

  private constructor(db: Db, opts: QueueStoreOptions) {
    if (!(typeof opts.quotaBytes === 'number' && opts.quotaBytes > 0)) {
      throw new QueueWriteError('quotaBytes must be a positive number');
    }
    this.db = db;
    this.cipher = opts.cipher ?? IDENTITY_CIPHER;
    this.audit = opts.audit ?? NO_AUDIT;
    this.clock = opts.clock ?? Date.now;
    this.observer = opts.observer ?? {};
    this.maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.quotaBytes = opts.quotaBytes;
    this.minFreeDiskBytes = opts.minFreeDiskBytes ?? DEFAULT_MIN_FREE_DISK_BYTES;
    this.diskCheckMs = opts.diskCheckMs ?? DEFAULT_DISK_CHECK_MS;
    this.relaxedBookkeeping = (opts.bookkeepingSync ?? DEFAULT_BOOKKEEPING_SYNC) === 'NORMAL';
    const file = db.name;
    this.freeDiskBytes =
      opts.freeDiskBytes ??
      (() => {
        if (!file || file === ':memory:') return Infinity;
        const st = statfsSync(dirname(file));
        return Number(st.bavail) * Number(st.bsize);
      });
    this.s = this.prepare();
    this.heldBytes = (this.s.heldBytes.get() as { b: number | null }).b ?? 0;

    this.writeOne = db.transaction((w: AcceptWrite, now: number, scopes: Set<string>) => {
      const m = w.message;
      if (w.idempotency) {
        const prior = this.s.getIdem.get(w.idempotency.key) as { response: string } | undefined;
        if (prior) throw new DuplicateIdempotencyKeyError(prior.response);
      }
      this.s.insMessage.run(
        m.id,
        m.receivedAt,
        m.source,
        m.purpose,
        m.format,
        m.outcomes,
        m.idempotencyKey ?? w.idempotency?.key ?? null,
        w.items.length,
      );
      if (w.idempotency) this.s.insIdem.run(w.idempotency.key, m.id, w.idempotency.response, now);
      for (const it of w.items) {
        const sealed = toBuffer(this.cipher.encrypt(it.payload, it.cipherScope, queueItemAad(it.messageId, it.destination)));
        const info = this.s.insItem.run(
          it.messageId,
          it.destination,
          LANE_ORDER[it.lane],
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
        for (const token of new Set(it.patientTokens)) this.s.insPatient.run(token, info.lastInsertRowid);
        scopes.add(it.cipherScope);
      }
      if (w.audit.length) this.audit.append(w.audit);
    });

    this.txAccept = db.transaction((batch: Pending[], failures: (Error | undefined)[], now: number) => {
      const scopes = new Set<string>();
      for (const p of batch) {
        try {
          this.writeOne(p.write, now, scopes);
          failures.push(undefined);
        } catch (err) {
          failures.push(mapSqliteError(err));
        }
      }
      for (const scope of scopes) this.s.touchScope.run(scope, now);
    });

    this.txClaim = db.transaction((destination: string, limit: number, now: number) => {
      const rows = this.s.selClaim.all(destination, now, limit) as ClaimRow[];
      const out: ClaimedItem[] = [];
      for (const r of rows) {
        let payload: Uint8Array;
        try {
          if (!r.payload) throw new Error('payload missing');
          payload = this.cipher.decrypt(r.payload, r.cipher_scope, queueItemAad(r.message_id, r.destination));
        } catch {
          // Bound to (message id, destination): a payload altered, or moved here from another row, is refused.
          this.audit.append([integrityFailureEvent({ table: 'queue_items', reason: 'payload failed authentication', time: new Date(now), messageId: r.message_id, destination: r.destination })]);
          this.deadLetter(r.seq, 'payload failed authentication', undefined, now, false);
          continue;
        }
        this.s.updClaim.run(now + this.leaseMs, now, r.seq);
        out.push({
          id: r.seq,
          messageId: r.message_id,
          destination: r.destination,
          lane: laneName(r.lane),
          payload,
          contentType: r.content_type,
          cipherScope: r.cipher_scope,
          patientTokens: JSON.parse(r.patient_tokens) as string[],
          context: r.context,
          attempt: r.attempts + 1,
          enqueuedAt: r.enqueued_at,
        });
      }
      return out;
    });

    this.txSettle = db.transaction((settlements: Settlement[], now: number) => {
      for (const st of settlements) {
        switch (st.kind) {
          case 'delivered': {
            const r = this.s.updDelivered.get(now, now, st.status ?? null, st.id) as ChangedRow | undefined;
            if (!r) break;
            this.heldBytes -= r.payload_bytes;
            this.audit.append([
              {
                event: 'delivered',
                time: new Date(now).toISOString(),
                messageId: r.message_id,
                destination: r.destination,
                ...tokenOf(r),
                decision: 'delivered',
                reason: st.status ? `HTTP ${st.status}` : 'delivered',
              },
            ]);
            this.observer.delivered?.(r.destination, now - r.enqueued_at);
            break;
          }
          case 'retry': {
            const r = this.s.updRetry.get(st.nextAttemptAt, st.error, st.status ?? null, now, st.id) as ChangedRow | undefined;
            if (r) this.observer.retried?.(r.destination);
            break;
          }
          case 'dead':
            this.deadLetter(st.id, st.reason, st.status, now, true);
            break;
          case 'withdrawn': {
            const r = this.s.updWithdrawn.get(st.reason, now, st.id) as ChangedRow | undefined;
            if (!r) break;
            this.heldBytes -= r.payload_bytes;
            this.audit.append(
              st.audit?.length
                ? st.audit
                : [
                    {
                      event: 'consent-withdrawn',
                      time: new Date(now).toISOString(),
                      messageId: r.message_id,
                      destination: r.destination,
                      ...tokenOf(r),
                      decision: 'withdrawn',
                      reason: st.reason,
                    },
                  ],
            );
            this.observer.withdrawn?.(r.destination);
            break;
          }
          case 'release':
            this.s.updRelease.run(now, st.id);
            break;
        }
      }
    });
  }

  private prepare() {
    const db = this.db;
    return {
      heldBytes: db.prepare(
        `SELECT SUM(payload_bytes) AS b FROM queue_items INDEXED BY queue_items_claim WHERE state IN ${HOLDS_PAYLOAD}`,
      ),
      getIdem: db.prepare('SELECT response FROM queue_idempotency WHERE key = ?'),
      insMessage: db.prepare(
        `INSERT INTO queue_messages (id, received_at, source, purpose, format, outcomes, idempotency_key, queued_items)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insIdem: db.prepare('INSERT INTO queue_idempotency (key, message_id, response, created_at) VALUES (?, ?, ?, ?)'),
      insItem: db.prepare(
        `INSERT INTO queue_items (message_id, destination, lane, state, attempts, enqueued_at, next_attempt_at, updated_at,
           content_type, cipher_scope, patient_tokens, context, payload, payload_bytes)
         VALUES (?, ?, ?, 'ready', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insPatient: db.prepare('INSERT OR IGNORE INTO queue_item_patients (token, seq) VALUES (?, ?)'),
      touchScope: db.prepare(
        'INSERT INTO queue_scopes (scope, last_used_at) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET last_used_at = excluded.last_used_at',
      ),
      selClaim: db.prepare(
        `SELECT seq, message_id, destination, lane, attempts, enqueued_at, content_type, cipher_scope, patient_tokens,
                context, payload, payload_bytes
           FROM queue_items INDEXED BY queue_items_claim
          WHERE destination = ? AND state = 'ready' AND next_attempt_at <= ?
          ORDER BY lane, seq LIMIT ?`,
      ),
      updClaim: db.prepare(`UPDATE queue_items SET state = 'inflight', lease_until = ?, updated_at = ? WHERE seq = ?`),
      updDelivered: db.prepare(
        `UPDATE queue_items SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, updated_at = ?,
                last_status = ?, last_error = NULL, lease_until = NULL, payload = NULL
          WHERE seq = ? AND state = 'inflight'
          RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
      ),
      updRetry: db.prepare(
        `UPDATE queue_items SET state = 'ready', attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
                last_status = ?, updated_at = ?, lease_until = NULL
          WHERE seq = ? AND state = 'inflight'
          RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
      ),
      updDeadCounted: db.prepare(
        `UPDATE queue_items SET state = 'dead', attempts = attempts + 1, last_error = ?, last_status = ?, updated_at = ?,
                lease_until = NULL
          WHERE seq = ? AND state IN ('inflight', 'ready')
          RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
      ),
      updDeadUncounted: db.prepare(
        `UPDATE queue_items SET state = 'dead', last_error = ?, last_status = ?, updated_at = ?, lease_until = NULL
          WHERE seq = ? AND state IN ('inflight', 'ready')
          RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
      ),
      updWithdrawn: db.prepare(
        `UPDATE queue_items SET state = 'withdrawn', last_error = ?, updated_at = ?, lease_until = NULL, payload = NULL
          WHERE seq = ? AND state IN ('inflight', 'ready', 'dead')
          RETURNING message_id, destination, payload_bytes, enqueued_at, patient_tokens`,
      ),
      updRelease: db.prepare(
        `UPDATE queue_items SET state = 'ready', updated_at = ?, lease_until = NULL WHERE seq = ? AND state = 'inflight'`,
      ),
      recover: db.prepare(`UPDATE queue_items SET state = 'ready', lease_until = NULL WHERE state = 'inflight'`),
      selMessage: db.prepare('SELECT * FROM queue_messages WHERE id = ?'),
      selItemsOf: db.prepare(
        `SELECT seq, message_id, destination, lane, state, attempts, enqueued_at, next_attempt_at, updated_at, delivered_at,
                last_error, last_status, payload_bytes
           FROM queue_items WHERE message_id = ? ORDER BY seq`,
      ),
      // Grouped in the index's own order (no sort); 'ready' is split into queued/retrying in JS.
      counts: db.prepare(
        `SELECT destination, state, COUNT(*) AS n, SUM(attempts > 0) AS retried_n,
                SUM(CASE WHEN state IN ${HOLDS_PAYLOAD} THEN payload_bytes ELSE 0 END) AS bytes,
                SUM(CASE WHEN attempts > 0 AND state IN ${HOLDS_PAYLOAD} THEN payload_bytes ELSE 0 END) AS retried_bytes
           FROM queue_items INDEXED BY queue_items_claim GROUP BY destination, state`,
      ),
      selWithdrawable: db.prepare(
        `SELECT i.seq AS seq, m.purpose AS purpose, i.message_id AS message_id, i.destination AS destination,
                i.patient_tokens AS patient_tokens, i.context AS context FROM queue_item_patients p
           JOIN queue_items i ON i.seq = p.seq
           JOIN queue_messages m ON m.id = i.message_id
          WHERE p.token = ? AND i.state IN ('ready', 'dead')`,
      ),
      oldTerminal: db.prepare(
        `DELETE FROM queue_items WHERE seq IN (
           SELECT seq FROM queue_items INDEXED BY queue_items_state
            WHERE state IN ('delivered', 'withdrawn', 'purged') AND updated_at < ? LIMIT ?)
         RETURNING message_id`,
      ),
      delMessageIfEmpty: db.prepare(
        'DELETE FROM queue_messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM queue_items WHERE message_id = ?)',
      ),
      delOldItemlessMessages: db.prepare(
        `DELETE FROM queue_messages WHERE id IN (
           SELECT id FROM queue_messages INDEXED BY queue_messages_itemless WHERE queued_items = 0 AND received_at < ? LIMIT ?)`,
      ),
      delOldIdem: db.prepare('DELETE FROM queue_idempotency WHERE created_at < ?'),
      oldScopes: db.prepare('SELECT scope FROM queue_scopes WHERE last_used_at < ?'),
      scopeInUse: db.prepare(`SELECT 1 FROM queue_items WHERE cipher_scope = ? AND state IN ${HOLDS_PAYLOAD} LIMIT 1`),
      delScope: db.prepare('DELETE FROM queue_scopes WHERE scope = ?'),
    };
  }

  // ---- accept: group commit ------------------------------------------------------------

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
    if (this.diskIsLow()) {
      return Promise.reject(new QuotaExceededError('the disk holding the queue is nearly full', DEFAULT_QUOTA_RETRY_AFTER_S));
    }
    if (this.heldBytes + this.reservedBytes + bytes > this.quotaBytes) {
      return Promise.reject(new QuotaExceededError('the queue is at its disk quota', DEFAULT_QUOTA_RETRY_AFTER_S));
    }
    this.reservedBytes += bytes;
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

  /** Commits every pending accept() now (also called on a timer-free setImmediate). */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const started = performance.now();
    const failures: (Error | undefined)[] = [];
    let total = 0;
    for (const p of batch) total += p.bytes;
    try {
      this.txAccept(batch, failures, this.clock());
    } catch (err) {
      this.reservedBytes -= total;
      const mapped = mapSqliteError(err);
      for (const p of batch) p.reject(mapped);
      return;
    }
    this.reservedBytes -= total;
    batch.forEach((p, i) => {
      if (!failures[i]) this.heldBytes += p.bytes;
    });
    this.observer.committed?.(batch.length, performance.now() - started);
    batch.forEach((p, i) => {
      const f = failures[i];
      if (f) p.reject(f);
      else p.resolve();
    });
  }

  /** The stored answer of an earlier request with this Idempotency-Key (survives restarts). */
  findIdempotent(key: string): string | undefined {
    return (this.s.getIdem.get(key) as { response: string } | undefined)?.response;
  }

  // ---- status ----------------------------------------------------------------------------

  getMessage(id: string): MessageStatus | undefined {
    const m = this.s.selMessage.get(id) as
      | { id: string; received_at: string; source: string; purpose: string; format: string; outcomes: string }
      | undefined;
    if (!m) return undefined;
    let outcomes: unknown;
    try {
      outcomes = JSON.parse(m.outcomes);
    } catch {
      outcomes = m.outcomes;
    }
    return {
      id: m.id,
      receivedAt: m.received_at,
      source: m.source,
      purpose: m.purpose,
      format: m.format,
      outcomes,
      destinations: (this.s.selItemsOf.all(id) as ItemRow[]).map(toItemStatus),
    };
  }

  /** Counts (and bytes held) per destination and state: an index-only scan, fine for a metrics scrape. */
  counts(): CountRow[] {
    const rows = this.s.counts.all() as {
      destination: string;
      state: StoredState;
      n: number;
      retried_n: number;
      bytes: number | null;
      retried_bytes: number | null;
    }[];
    const out: CountRow[] = [];
    for (const r of rows) {
      if (r.state !== 'ready') {
        out.push({ destination: r.destination, state: publicState(r.state, 0), count: r.n, bytes: r.bytes ?? 0 });
        continue;
      }
      const retrying = r.retried_n ?? 0;
      const retryingBytes = r.retried_bytes ?? 0;
      if (r.n > retrying) out.push({ destination: r.destination, state: 'queued', count: r.n - retrying, bytes: (r.bytes ?? 0) - retryingBytes });
      if (retrying > 0) out.push({ destination: r.destination, state: 'retrying', count: retrying, bytes: retryingBytes });
    }
    return out;
  }

  /** Bytes of payloads held (ready, in flight, dead). */
  heldPayloadBytes(): number {
    return this.heldBytes;
  }

  /** True when new messages would be refused (readiness). */
  atQuota(): boolean {
    return this.diskIsLow() || this.heldBytes + this.reservedBytes >= this.quotaBytes;
  }

  private diskIsLow(): boolean {
    if (this.minFreeDiskBytes <= 0) return false;
    const now = this.clock();
    if (now - this.diskCheckedAt >= this.diskCheckMs || now < this.diskCheckedAt) {
      this.diskCheckedAt = now;
      try {
        this.diskLow = this.freeDiskBytes() < this.minFreeDiskBytes;
      } catch {
        this.diskLow = false;
      }
    }
    return this.diskLow;
  }

  // ---- the dispatcher's side ----------------------------------------------------------

  /**
   * Marks up to `limit` due rows of a destination in flight and returns them decrypted:
   * emergency lane first, then enqueue order. Rows whose payload fails authentication
   * are dead-lettered (audited) and skipped.
   */
  claim(destination: string, limit: number): ClaimedItem[] {
    if (limit <= 0) return [];
    return this.bookkeeping(() => this.txClaim(destination, limit, this.clock()));
  }

  /** Applies many results in one transaction (with their audit events). */
  settle(settlements: Settlement[]): void {
    if (settlements.length) this.bookkeeping(() => this.txSettle(settlements, this.clock()));
  }

  /** Runs a dispatcher transaction without its own fsync, restoring FULL before anything else can run. */
  private bookkeeping<T>(fn: () => T): T {
    if (!this.relaxedBookkeeping || this.db.inTransaction) return fn();
    this.db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  markDelivered(ids: number[], info: { status?: number } = {}): void {
    this.settle(ids.map((id) => ({ kind: 'delivered' as const, id, status: info.status })));
  }

  markRetry(id: number, nextAttemptAt: number, error: string, status?: number): void {
    this.settle([{ kind: 'retry', id, nextAttemptAt, error, status }]);
  }

  markDead(id: number, reason: string, status?: number): void {
    this.settle([{ kind: 'dead', id, reason, status }]);
  }

  markWithdrawn(id: number, reason: string, audit?: AuditEvent[]): void {
    this.settle([{ kind: 'withdrawn', id, reason, audit }]);
  }

  /** Start-up: rows left in flight by a crash become ready again (attempt not counted). */
  recoverInFlight(): number {
    return this.s.recover.run().changes;
  }

  private deadLetter(id: number, reason: string, status: number | undefined, now: number, countAttempt: boolean): void {
    const stmt = countAttempt ? this.s.updDeadCounted : this.s.updDeadUncounted;
    const r = stmt.get(reason, status ?? null, now, id) as ChangedRow | undefined;
    if (!r) return;
    this.audit.append([
      {
        event: 'dead-lettered',
        time: new Date(now).toISOString(),
        messageId: r.message_id,
        destination: r.destination,
        ...tokenOf(r),
        decision: 'dead',
        reason,
      },
    ]);
    this.observer.deadLettered?.(r.destination);
  }

  // ---- consent withdrawal --------------------------------------------------------------

  /**
   * Consent withdrawn: every queued, retrying or dead row of these patients (for this
   * purpose, when given) becomes 'withdrawn', its payload destroyed, one audit event each.
   * Rows being delivered right now are left to the dispatcher's re-check.
   * `stillPermitted`, when given, is asked about each row: one the patient's other consents
   * still permit stays queued (withdrawing one consent must not destroy what another allows).
   * If it throws, the row is withdrawn (fail closed).
   */
  withdrawForPatient(
    tokens: string[],
    purpose?: string,
    reason = 'consent withdrawn',
    stillPermitted?: (item: Pick<ClaimedItem, 'messageId' | 'destination' | 'patientTokens' | 'context'>) => boolean,
  ): number {
    const now = this.clock();
    let n = 0;
    const keeps = (row: { message_id: string; destination: string; patient_tokens: string; context: string }) => {
      try {
        return stillPermitted!({ messageId: row.message_id, destination: row.destination, patientTokens: JSON.parse(row.patient_tokens) as string[], context: row.context });
      } catch {
        return false;
      }
    };
    this.db.transaction(() => {
      for (const token of new Set(tokens)) {
        const rows = this.s.selWithdrawable.all(token) as { seq: number; purpose: string; message_id: string; destination: string; patient_tokens: string; context: string }[];
        for (const row of rows) {
          if (purpose && row.purpose !== purpose) continue;
          if (stillPermitted && keeps(row)) continue;
          const r = this.s.updWithdrawn.get(reason, now, row.seq) as ChangedRow | undefined;
          if (!r) continue;
          n++;
          this.heldBytes -= r.payload_bytes;
          this.audit.append([
            {
              event: 'consent-withdrawn',
              time: new Date(now).toISOString(),
              messageId: r.message_id,
              destination: r.destination,
              patientToken: token,
              purpose: row.purpose,
              decision: 'withdrawn',
              reason,
            },
          ]);
          this.observer.withdrawn?.(r.destination);
        }
      }
    })();
    return n;
  }

  // ---- operator (CLI) ------------------------------------------------------------------

  list(filter: ListFilter = {}): ItemStatus[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.state) where.push(stateCondition(filter.state));
    if (filter.destination) {
      where.push('destination = ?');
      params.push(filter.destination);
    }
    if (filter.afterId !== undefined) {
      where.push('seq > ?');
      params.push(filter.afterId);
    }
    params.push(Math.max(1, Math.min(filter.limit ?? 50, 10_000)));
    const rows = this.db
      .prepare(
        `SELECT seq, message_id, destination, lane, state, attempts, enqueued_at, next_attempt_at, updated_at, delivered_at,
                last_error, last_status, payload_bytes
           FROM queue_items ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`,
      )
      .all(...params) as ItemRow[];
    return rows.map(toItemStatus);
  }

  inspect(messageId: string): MessageStatus | undefined {
    return this.getMessage(messageId);
  }

  /** Dead letters (that still hold their payload) → ready, attempts reset. Audited as admin actions. */
  retryDead(filter: RetryFilter = {}, actor = 'cli'): number {
    const now = this.clock();
    const where = ["state = 'dead'", 'payload IS NOT NULL'];
    const params: (string | number)[] = [];
    if (filter.destination) {
      where.push('destination = ?');
      params.push(filter.destination);
    }
    if (filter.messageIds?.length) {
      where.push(`message_id IN (${filter.messageIds.map(() => '?').join(', ')})`);
      params.push(...filter.messageIds);
    }
    const stmt = this.db.prepare(
      `UPDATE queue_items SET state = 'ready', attempts = 0, next_attempt_at = ?, updated_at = ?
        WHERE ${where.join(' AND ')} RETURNING message_id, destination`,
    );
    let n = 0;
    this.db.transaction(() => {
      const rows = stmt.all(now, now, ...params) as { message_id: string; destination: string }[];
      n = rows.length;
      if (n) {
        this.audit.append(
          rows.map((r) => ({
            event: 'admin-action' as const,
            time: new Date(now).toISOString(),
            messageId: r.message_id,
            destination: r.destination,
            reason: 'dead letter re-queued',
            actor,
          })),
        );
      }
    })();
    return n;
  }

  /**
   * Operator purge: dead letters lose their payload (unrecoverable), delivered rows are
   * marked purged. Chunked transactions, one 'purged' audit event per row.
   */
  purge(filter: PurgeFilter, actor = 'cli'): number {
    if (filter.state !== 'dead' && filter.state !== 'delivered') {
      throw new QueueWriteError('purge state must be dead or delivered');
    }
    const dest = filter.destination ? ' AND destination = ?' : '';
    const destParams = filter.destination ? [filter.destination] : [];
    const total = (
      this.db.prepare(`SELECT COUNT(*) AS n FROM queue_items WHERE state = ?${dest}`).get(filter.state, ...destParams) as {
        n: number;
      }
    ).n;
    const step = this.db.prepare(
      `UPDATE queue_items SET state = 'purged', payload = NULL, updated_at = ?, lease_until = NULL
        WHERE seq IN (SELECT seq FROM queue_items WHERE state = ?${dest} LIMIT ${PURGE_CHUNK})
        RETURNING message_id, destination, payload_bytes`,
    );
    let done = 0;
    for (;;) {
      const now = this.clock();
      const rows = this.db.transaction(() => {
        const changed = step.all(now, filter.state, ...destParams) as { message_id: string; destination: string; payload_bytes: number }[];
        if (changed.length) {
          this.audit.append(
            changed.map((r) => ({
              event: 'purged' as const,
              time: new Date(now).toISOString(),
              messageId: r.message_id,
              destination: r.destination,
              reason: `operator purge of ${filter.state} rows`,
              actor,
            })),
          );
        }
        return changed;
      })();
      if (filter.state === 'dead') for (const r of rows) this.heldBytes -= r.payload_bytes;
      done += rows.length;
      filter.onProgress?.(done, total);
      if (rows.length < PURGE_CHUNK) break;
    }
    return done;
  }

  /**
   * Retention: deletes delivered / withdrawn / purged rows last changed before
   * now - olderThanMs (their payloads are already gone), messages left without rows,
   * old idempotency keys; then shreds cipher scopes that hold no payload and were not
   * used within the window. One summary 'purged' audit event per run that removed anything.
   */
  purgeDelivered(olderThanMs: number): { items: number; messages: number; scopes: number } {
    const now = this.clock();
    const cutoff = now - olderThanMs;
    const cutoffIso = new Date(cutoff).toISOString();
    let items = 0;
    let messages = 0;
    let scopes = 0;
    for (;;) {
      const n = this.db.transaction(() => {
        const gone = this.s.oldTerminal.all(cutoff, PURGE_CHUNK) as { message_id: string }[];
        for (const id of new Set(gone.map((g) => g.message_id))) {
          messages += this.s.delMessageIfEmpty.run(id, id).changes;
        }
        return gone.length;
      })();
      items += n;
      if (n < PURGE_CHUNK) break;
    }
    for (;;) {
      const n = this.s.delOldItemlessMessages.run(cutoffIso, PURGE_CHUNK).changes;
      messages += n;
      if (n < PURGE_CHUNK) break;
    }
    this.db.transaction(() => {
      this.s.delOldIdem.run(cutoff);
      for (const { scope } of this.s.oldScopes.all(cutoff) as { scope: string }[]) {
        if (this.s.scopeInUse.get(scope)) continue;
        this.cipher.shred(scope);
        this.s.delScope.run(scope);
        scopes++;
      }
      if (items || messages || scopes) {
        this.audit.append([
          {
            event: 'purged',
            time: new Date(now).toISOString(),
            reason: `retention: ${items} finished deliveries, ${messages} messages, ${scopes} key scopes older than ${Math.round(olderThanMs / 1000)} s`,
            actor: 'retention',
          },
        ]);
      }
    })();
    return { items, messages, scopes };
  }

  /** Commits what is pending and refuses further writes. The database handle stays open (its owner closes it). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}

function toItemStatus(r: ItemRow): ItemStatus {
  const state = publicState(r.state, r.attempts);
  return {
    id: r.seq,
    messageId: r.message_id,
    destination: r.destination,
    lane: laneName(r.lane),
    state,
    attempts: r.attempts,
    ...(r.last_error ? { lastError: r.last_error } : {}),
    ...(r.last_status !== null ? { lastStatus: r.last_status } : {}),
    enqueuedAt: iso(r.enqueued_at)!,
    updatedAt: iso(r.updated_at)!,
    ...(state === 'retrying' ? { nextAttemptAt: iso(r.next_attempt_at) } : {}),
    ...(r.delivered_at !== null ? { deliveredAt: iso(r.delivered_at) } : {}),
    payloadBytes: r.payload_bytes,
  };
}
