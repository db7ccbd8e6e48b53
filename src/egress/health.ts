/**
 * Link health per destination: what an operator on a thin uplink needs to see. The tracker is
 * fed by the uplink (each exchange: bytes out, time to the answer) and the dispatcher (each
 * outcome); linkStatus() joins that with the queue's view (breaker, oldest waiting row, bytes
 * waiting) into one plain value for /status, /metrics and `darwaza link status`.
 * Figures cover a sliding window (default 5 minutes) so they describe the link as it is now.
 */
import type { DeliveryResult } from '../model/index.js';
import type { ExchangeSample } from './uplink.js';

export const DEFAULT_HEALTH_WINDOW_MS = 5 * 60_000;

interface Sample {
  at: number;
  ms: number;
  bytes: number;
  ok: boolean;
}

export interface LinkStatus {
  destination: string;
  /** Median time from request to answer over the window, in ms (≈ RTT for small requests); null: no answer yet. */
  rttMs: number | null;
  /** Bytes per second of requests that got an answer, over the window. */
  goodputBytesPerSec: number;
  /** Share of outcomes over the window that were retries (0..1); null: none. */
  retryRate: number | null;
  breaker: 'closed' | 'open' | 'half-open';
  /** Age of the oldest row not yet delivered, seconds; null: nothing waiting. */
  oldestQueuedAgeS: number | null;
  /** Bytes of payloads waiting (queued, retrying, being delivered). */
  bytesWaiting: number;
  messagesWaiting: number;
  lastError?: string;
}

export interface LinkHealth {
  exchange(destination: string, sample: ExchangeSample): void;
  outcome(destination: string, kind: DeliveryResult['kind']): void;
  /** Window figures of one destination. */
  figures(destination: string): { rttMs: number | null; goodputBytesPerSec: number; retryRate: number | null; lastError?: string };
}

export function createLinkHealth(opts: { clock?: () => number; windowMs?: number } = {}): LinkHealth {
  const clock = opts.clock ?? Date.now;
  const windowMs = opts.windowMs ?? DEFAULT_HEALTH_WINDOW_MS;
  const exchanges = new Map<string, Sample[]>();
  const outcomes = new Map<string, { at: number; retry: boolean }[]>();
  const lastErrors = new Map<string, string>();
  const prune = <T extends { at: number }>(list: T[], now: number) => {
    let i = 0;
    while (i < list.length && now - list[i]!.at > windowMs) i++;
    if (i) list.splice(0, i);
    // Bounded whatever the rate: the newest 10,000 are plenty for a median and a rate.
    if (list.length > 10_000) list.splice(0, list.length - 10_000);
  };
  return {
    exchange(destination, s) {
      const now = clock();
      const list = exchanges.get(destination) ?? [];
      exchanges.set(destination, list);
      const ok = s.status !== undefined && s.status < 500 && s.status !== 429 && s.status !== 408;
      list.push({ at: now, ms: s.ms, bytes: s.bytesOut, ok });
      prune(list, now);
      if (s.error) lastErrors.set(destination, s.error);
      else if (!ok && s.status !== undefined) lastErrors.set(destination, `HTTP ${s.status}`);
    },
    outcome(destination, kind) {
      const now = clock();
      const list = outcomes.get(destination) ?? [];
      outcomes.set(destination, list);
      list.push({ at: now, retry: kind === 'retry' });
      prune(list, now);
    },
    figures(destination) {
      const now = clock();
      const ex = exchanges.get(destination) ?? [];
      prune(ex, now);
      const answered = ex.filter((e) => e.ok);
      const times = answered.map((e) => e.ms).sort((a, b) => a - b);
      const rttMs = times.length ? times[Math.floor((times.length - 1) / 2)]! : null;
      // Over the span actually observed (at least one second), not the whole window.
      const span = answered.length ? Math.max(1000, now - answered[0]!.at + answered[0]!.ms) : 1000;
      const goodputBytesPerSec = Math.round(answered.reduce((n, e) => n + e.bytes, 0) / (span / 1000));
      const oc = outcomes.get(destination) ?? [];
      prune(oc, now);
      const retryRate = oc.length ? oc.filter((o) => o.retry).length / oc.length : null;
      const lastError = lastErrors.get(destination);
      return { rttMs, goodputBytesPerSec, retryRate, ...(lastError ? { lastError } : {}) };
    },
  };
}

export interface QueueView {
  breaker: (destination: string) => LinkStatus['breaker'] | undefined;
  counts: { destination: string; state: string; count: number; bytes: number }[];
  oldest: { destination: string; enqueuedAt: number }[];
}

const WAITING = new Set(['queued', 'retrying', 'delivering']);

/** Joins the tracker's figures with the queue's view (pure apart from the tracker's clock). */
export function linkStatus(destinations: readonly string[], health: LinkHealth, q: QueueView, now: number): LinkStatus[] {
  return destinations.map((destination) => {
    const waiting = q.counts.filter((c) => c.destination === destination && WAITING.has(c.state));
    const oldest = q.oldest.find((o) => o.destination === destination);
    return {
      destination,
      ...health.figures(destination),
      breaker: q.breaker(destination) ?? 'closed',
      oldestQueuedAgeS: oldest ? Math.max(0, Math.round((now - oldest.enqueuedAt) / 1000)) : null,
      bytesWaiting: waiting.reduce((n, c) => n + c.bytes, 0),
      messagesWaiting: waiting.reduce((n, c) => n + c.count, 0),
    };
  });
}
