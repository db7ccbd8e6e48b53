/**
 * The dispatcher: per destination, claim ready rows in batches, re-check consent
 * right before each send, deliver with bounded concurrency, and settle results
 * (delivered / retry later / dead letter / withdrawn) in batched transactions.
 *
 * Per destination it keeps a small buffer of claimed rows (at most `concurrency`),
 * a circuit breaker, and one wake-up timer (idle poll, the next retry due, or the
 * breaker's cool-down). kick(destination) wakes it when new rows were committed.
 * It talks to the store only through the port's DispatchStore (claim and settle are
 * Promises), one claim per destination at a time, settlements applied in order.
 * Crash safety: a row is only ever 'inflight' in the database between claim and
 * settle; recoverInFlight() at start-up makes such rows ready again, and the
 * receiver de-duplicates by Idempotency-Key, so a crash costs a resend, never a loss.
 *
 * Links (docs/links.md): what was claimed is ordered by link lane (emergency > treatment >
 * public health > research); a lane outside its daily window goes back until the window
 * opens (attempt not counted); a destination with `batch` gets up to maxItems/maxBytes per
 * request through deliverBatch (one request = one unit of concurrency and one breaker
 * outcome); a destination with `bandwidthBytesPerSec` waits for its token bucket.
 */
import type { AuditEvent, DeliveryResult, Destination } from '../model/index.js';
import { decideRetry, isExpired } from './backoff.js';
import { CircuitBreaker, DEFAULT_BREAKER, type BreakerOptions, type BreakerState } from './breaker.js';
import type { DispatchStore } from './port.js';
import type { ClaimedItem, Settlement } from './types.js';
import { laneOfItem, orderByLane, windowVerdict } from './lanes.js';
import { bucketFor, fullBucket, take, type Bucket, type BucketState } from './token-bucket.js';

export const DEFAULT_POLL_MS = 1_000;

export type RecheckResult = { kind: 'ok' } | { kind: 'withdraw'; reason: string; audit?: AuditEvent[] };

export interface DispatcherOptions {
  store: DispatchStore;
  destinations: Destination[];
  deliver: (destination: Destination, item: ClaimedItem) => Promise<DeliveryResult>;
  /** Consent (and policy) re-check right before each delivery. Throwing = unknown = not sent now, retried later. */
  recheck?: (item: ClaimedItem) => RecheckResult;
  /** Reads what the re-check needs for freshly claimed rows (an async registry); a failure leaves the re-check to throw. */
  prepareRecheck?: (items: ClaimedItem[]) => Promise<void>;
  clock?: () => number;
  random?: () => number;
  /** Idle poll interval per destination (new rows also arrive through kick()). */
  pollMs?: number;
  breaker?: Partial<BreakerOptions>;
  /** Rows claimed per query (default: the destination's concurrency). */
  batchSize?: number;
  /** Errors of the store or of the deliver function (never carry payloads). */
  onError?: (err: Error, destination: string) => void;
  /** Delivers many rows in one request, one result per row in the same order (destinations with `batch`). */
  deliverBatch?: (destination: Destination, items: ClaimedItem[]) => Promise<DeliveryResult[]>;
  /** Time zone of the lanes' daily windows (default UTC). */
  timeZone?: string;
  /** Told each delivery outcome (link health). */
  onOutcome?: (destination: string, kind: DeliveryResult['kind']) => void;
}

/** Rows claimed per query for a batching destination, at most. */
const MAX_BATCH_CLAIM = 1_000;

export interface DestinationDispatchState {
  destination: string;
  breaker: BreakerState;
  inFlight: number;
  buffered: number;
}

interface Lane {
  d: Destination;
  breaker: CircuitBreaker;
  inFlight: number;
  buffer: ClaimedItem[];
  timer?: NodeJS.Timeout;
  timerAt: number;
  kickScheduled: boolean;
  /** The running pump (claims are awaited; one pump per destination at a time). */
  pumping?: Promise<void>;
  /** Something asked for a pump while one was running: run again when it ends. */
  pumpAgain: boolean;
  bucket?: Bucket;
  bucketState?: BucketState;
}

/** An error's kind, never its message (which could quote a body). */
function describeError(err: unknown): string {
  const e = err as { code?: string; name?: string };
  return `delivery failed (${e?.code ?? e?.name ?? 'error'})`;
}

export class Dispatcher {
  private readonly store: DispatchStore;
  private readonly deliver: DispatcherOptions['deliver'];
  private readonly recheck?: DispatcherOptions['recheck'];
  private readonly prepareRecheck?: DispatcherOptions['prepareRecheck'];
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly pollMs: number;
  private readonly batchSize?: number;
  private readonly onError: (err: Error, destination: string) => void;
  private readonly deliverBatch?: DispatcherOptions['deliverBatch'];
  private readonly timeZone: string;
  private readonly onOutcome?: DispatcherOptions['onOutcome'];
  private readonly lanes = new Map<string, Lane>();
  private readonly inflightPromises = new Set<Promise<void>>();
  private settlements: Settlement[] = [];
  private settleScheduled = false;
  /** The last settle sent to the store: the next one waits for it (results stay in order). */
  private settling: Promise<void> = Promise.resolve();
  private running = false;

  constructor(opts: DispatcherOptions) {
    this.store = opts.store;
    this.deliver = opts.deliver;
    this.recheck = opts.recheck;
    this.prepareRecheck = opts.prepareRecheck;
    this.clock = opts.clock ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
    this.batchSize = opts.batchSize;
    this.onError = opts.onError ?? (() => {});
    this.deliverBatch = opts.deliverBatch;
    this.timeZone = opts.timeZone ?? 'UTC';
    this.onOutcome = opts.onOutcome;
    const breakerOptions = { ...DEFAULT_BREAKER, ...opts.breaker };
    for (const d of opts.destinations) {
      if (this.lanes.has(d.name)) throw new Error(`destination "${d.name}" is listed twice`);
      this.lanes.set(d.name, {
        d,
        breaker: new CircuitBreaker(breakerOptions, this.clock),
        inFlight: 0,
        buffer: [],
        timerAt: Infinity,
        kickScheduled: false,
        pumpAgain: false,
        ...(d.bandwidthBytesPerSec ? { bucket: bucketFor(d.bandwidthBytesPerSec) } : {}),
      });
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const lane of this.lanes.values()) this.pump(lane);
  }

  /** Graceful: stops claiming, gives back unstarted rows, waits for deliveries in flight, commits their results. */
  async stop(): Promise<void> {
    this.running = false;
    for (const lane of this.lanes.values()) {
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = undefined;
      lane.timerAt = Infinity;
    }
    // A claim in progress finishes first, so what it claimed is given back below.
    await Promise.allSettled([...this.lanes.values()].map((l) => l.pumping));
    for (const lane of this.lanes.values()) {
      for (const item of lane.buffer.splice(0)) this.settlements.push({ kind: 'release', id: item.id });
    }
    while (this.inflightPromises.size) await Promise.allSettled([...this.inflightPromises]);
    await this.flushSettlements();
  }

  /** New rows were committed for this destination (or for all, without an argument). */
  kick(destination?: string): void {
    if (!this.running) return;
    const lanes = destination === undefined ? [...this.lanes.values()] : [this.lanes.get(destination)];
    for (const lane of lanes) {
      if (!lane || lane.kickScheduled) continue;
      lane.kickScheduled = true;
      setImmediate(() => {
        lane.kickScheduled = false;
        this.pump(lane);
      });
    }
  }

  breakerState(destination: string): BreakerState | undefined {
    return this.lanes.get(destination)?.breaker.state;
  }

  states(): DestinationDispatchState[] {
    return [...this.lanes.values()].map((l) => ({
      destination: l.d.name,
      breaker: l.breaker.state,
      inFlight: l.inFlight,
      buffered: l.buffer.length,
    }));
  }

  private pump(lane: Lane): void {
    if (!this.running) return;
    if (lane.pumping) {
      lane.pumpAgain = true;
      return;
    }
    lane.pumping = this.pumpOnce(lane).finally(() => {
      lane.pumping = undefined;
      if (lane.pumpAgain) {
        lane.pumpAgain = false;
        this.pump(lane);
      }
    });
  }

  private batching(lane: Lane): boolean {
    return !!(lane.d.batch && this.deliverBatch);
  }

  /**
   * How many claimed rows a destination holds at most. A batching destination holds two
   * batches' worth (or one per request slot) and tops up before every request, so a new
   * emergency row waits at most for the requests already on the wire, and rows of the claimed
   * window go out in lane order.
   */
  private claimWindow(lane: Lane): number {
    const d = lane.d;
    if (lane.breaker.state !== 'closed') return 1;
    if (this.batching(lane)) return this.batchSize ?? Math.min(MAX_BATCH_CLAIM, d.batch!.maxItems * Math.max(2, d.concurrency));
    return this.batchSize ?? d.concurrency;
  }

  /** Claimed rows in lane order; rows of a lane outside its window go back until it opens. */
  private admitClaimed(lane: Lane, items: ClaimedItem[]): ClaimedItem[] {
    const windows = lane.d.laneWindows;
    const ordered = orderByLane(items, laneOfItem);
    if (!windows) return ordered;
    const now = this.clock();
    return ordered.filter((item) => {
      const w = windows[laneOfItem(item)];
      if (!w) return true;
      const v = windowVerdict(w, now, this.timeZone);
      if (v.open) return true;
      this.addSettlement({ kind: 'release', id: item.id, notBefore: v.opensAt });
      return false;
    });
  }

  /** The next request's rows from the front of the buffer: one, or a batch up to maxItems/maxBytes. */
  private nextUnit(lane: Lane): ClaimedItem[] {
    if (!this.batching(lane)) return lane.buffer.slice(0, 1);
    const { maxItems, maxBytes } = lane.d.batch!;
    const unit: ClaimedItem[] = [];
    let bytes = 0;
    // An emergency batch carries emergency rows only: nothing else lengthens its own send time.
    const emergency = lane.buffer[0]?.lane === 'emergency';
    for (const item of lane.buffer) {
      if (unit.length >= maxItems || (unit.length > 0 && bytes + item.payload.byteLength > maxBytes)) break;
      if (emergency && item.lane !== 'emergency') break;
      unit.push(item);
      bytes += item.payload.byteLength;
    }
    return unit;
  }

  private async pumpOnce(lane: Lane): Promise<void> {
    for (;;) {
      if (!this.running) return;
      const allowance = Math.min(lane.d.concurrency - lane.inFlight, lane.breaker.allowance());
      if (allowance <= 0) break;
      const window = this.claimWindow(lane);
      if (lane.buffer.length === 0 || (this.batching(lane) && lane.buffer.length < window)) {
        let items: ClaimedItem[];
        try {
          items = await this.store.claim(lane.d.name, window - lane.buffer.length);
          if (items.length && this.prepareRecheck) await this.prepareRecheck(items).catch((err: unknown) => this.onError(err as Error, lane.d.name));
        } catch (err) {
          this.onError(err as Error, lane.d.name);
          if (lane.buffer.length === 0) break;
          items = [];
        }
        if (items.length === 0 && lane.buffer.length === 0) break;
        if (items.length) lane.buffer = this.admitClaimed(lane, [...lane.buffer, ...items]);
        // stop() gives the buffer back.
        if (!this.running) return;
        if (lane.buffer.length === 0) continue;
      }
      const unit = this.nextUnit(lane);
      // A batching destination with 2+ request slots keeps one for the emergency lane, so an
      // emergency row never waits for a bulk batch on the wire, only shares the link with it.
      if (this.batching(lane) && lane.d.concurrency >= 2 && unit[0]?.lane !== 'emergency' && lane.d.concurrency - lane.inFlight <= 1) break;
      if (lane.bucket) {
        const now = this.clock();
        const bytes = unit.reduce((n, i) => n + i.payload.byteLength, 0);
        const t = take(lane.bucket, lane.bucketState ?? fullBucket(lane.bucket, now), bytes, now);
        lane.bucketState = t.state;
        if (!t.ok) {
          this.wakeAt(lane, now + t.waitMs);
          return;
        }
      }
      lane.buffer.splice(0, unit.length);
      if (unit.length === 1 && !this.batching(lane)) this.startOne(lane, unit[0]!);
      else this.startBatch(lane, unit);
    }
    if (lane.breaker.state === 'open') {
      // Rows claimed before the circuit opened go back to the queue until it half-opens.
      for (const item of lane.buffer.splice(0)) this.addSettlement({ kind: 'release', id: item.id });
      this.wakeAt(lane, lane.breaker.reopensAt());
    } else {
      this.wakeAt(lane, this.clock() + this.pollMs);
    }
  }

  private wakeAt(lane: Lane, at: number): void {
    if (!this.running) return;
    if (lane.timer && lane.timerAt <= at) return;
    if (lane.timer) clearTimeout(lane.timer);
    lane.timerAt = at;
    lane.timer = setTimeout(() => {
      lane.timer = undefined;
      lane.timerAt = Infinity;
      this.pump(lane);
    }, Math.max(0, at - this.clock()));
    lane.timer.unref?.();
  }

  /** Expiry and the consent re-check right before sending: true when the row may go now. */
  private admit(lane: Lane, item: ClaimedItem): boolean {
    const d = lane.d;
    const now = this.clock();
    if (isExpired(item.enqueuedAt, now, d.retry)) {
      this.addSettlement({
        kind: 'dead',
        id: item.id,
        reason: `older than the maximum age of ${Math.round(d.retry.maxAgeMs / 1000)} s`,
      });
      return false;
    }
    if (this.recheck) {
      let verdict: RecheckResult;
      try {
        verdict = this.recheck(item);
      } catch (err) {
        // Unknown consent state: deny for now, keep the row, try again later.
        this.onError(err as Error, d.name);
        this.addSettlement({
          kind: 'retry',
          id: item.id,
          nextAttemptAt: now + Math.max(this.pollMs, d.retry.baseDelayMs),
          error: 'consent re-check failed',
        });
        return false;
      }
      if (verdict.kind === 'withdraw') {
        this.addSettlement({ kind: 'withdrawn', id: item.id, reason: verdict.reason, audit: verdict.audit });
        return false;
      }
    }
    return true;
  }

  private startOne(lane: Lane, item: ClaimedItem): void {
    if (!this.admit(lane, item)) return;
    const d = lane.d;
    let result: Promise<DeliveryResult>;
    try {
      result = this.deliver(d, item);
    } catch (err) {
      result = Promise.reject(err);
    }
    this.track(
      lane,
      result
        .catch((err: unknown): DeliveryResult => {
          this.onError(err as Error, d.name);
          return { kind: 'retry', error: describeError(err) };
        })
        .then((r) => {
          this.countBreaker(lane, [r]);
          this.onResult(lane, item, r);
        }),
    );
  }

  private startBatch(lane: Lane, unit: ClaimedItem[]): void {
    const items = unit.filter((item) => this.admit(lane, item));
    if (!items.length) return;
    const d = lane.d;
    let result: Promise<DeliveryResult[]>;
    try {
      result = this.deliverBatch!(d, items);
    } catch (err) {
      result = Promise.reject(err);
    }
    this.track(
      lane,
      result
        .then((rs) => {
          if (rs.length !== items.length) throw new Error('deliverBatch returned the wrong number of results');
          return rs;
        })
        .catch((err: unknown): DeliveryResult[] => {
          this.onError(err as Error, d.name);
          return items.map(() => ({ kind: 'retry', error: describeError(err) }));
        })
        .then((rs) => {
          this.countBreaker(lane, rs);
          items.forEach((item, i) => this.onResult(lane, item, rs[i]!));
        }),
    );
  }

  /** One request in flight until `p` settles. */
  private track(lane: Lane, p: Promise<void>): void {
    lane.inFlight++;
    lane.breaker.started();
    const tracked: Promise<void> = p.finally(() => {
      lane.inFlight--;
      this.inflightPromises.delete(tracked);
      this.pump(lane);
    });
    this.inflightPromises.add(tracked);
  }

  /** One breaker outcome per request: a failure only when nothing in it got through. */
  private countBreaker(lane: Lane, rs: DeliveryResult[]): void {
    if (rs.every((r) => r.kind === 'retry')) {
      const after = rs.reduce<number | undefined>((m, r) => (r.kind === 'retry' && r.retryAfterMs !== undefined ? Math.max(m ?? 0, r.retryAfterMs) : m), undefined);
      lane.breaker.failure(after);
    } else {
      const wasDown = lane.breaker.state === 'half-open';
      lane.breaker.success();
      // The link is back: rows backing off because of the outage are due now, so the claim order
      // (emergency first, then enqueue order) decides what goes first, not who failed last.
      if (wasDown && this.store.wake) {
        this.store.wake(lane.d.name).then(
          () => this.kick(lane.d.name),
          (err: unknown) => this.onError(err as Error, lane.d.name),
        );
      }
    }
  }

  private onResult(lane: Lane, item: ClaimedItem, r: DeliveryResult): void {
    this.onOutcome?.(lane.d.name, r.kind);
    switch (r.kind) {
      case 'delivered':
        this.addSettlement({ kind: 'delivered', id: item.id, status: r.status });
        return;
      case 'dead':
        this.addSettlement({ kind: 'dead', id: item.id, reason: r.error, status: r.status });
        return;
      case 'retry': {
        const now = this.clock();
        const decision = decideRetry({
          attempt: item.attempt,
          enqueuedAt: item.enqueuedAt,
          now,
          policy: lane.d.retry,
          random: this.random,
          retryAfterMs: r.retryAfterMs,
          error: r.error,
        });
        if (decision.kind === 'dead') {
          this.addSettlement({ kind: 'dead', id: item.id, reason: decision.reason, status: r.status });
        } else {
          const at = now + decision.delayMs;
          this.addSettlement({ kind: 'retry', id: item.id, nextAttemptAt: at, error: r.error, status: r.status });
          this.wakeAt(lane, at);
        }
        return;
      }
    }
  }

  private addSettlement(s: Settlement): void {
    this.settlements.push(s);
    if (!this.settleScheduled) {
      this.settleScheduled = true;
      setImmediate(() => void this.flushSettlements());
    }
  }

  private flushSettlements(): Promise<void> {
    this.settleScheduled = false;
    if (!this.settlements.length) return this.settling;
    const batch = this.settlements;
    this.settlements = [];
    this.settling = this.settling
      .then(() => this.store.settle(batch))
      .catch((err: unknown) => {
        // The rows stay 'inflight' and come back at the next start-up (recoverInFlight).
        this.onError(err as Error, '*');
      });
    return this.settling;
  }
}
