/**
 * A token bucket per key (an identity's name): `perMinute` requests, refilled evenly, a
 * minute's worth at most. Answers how long to wait when empty. Memory is bounded: past
 * `maxKeys` the least recently seen key is forgotten (a full bucket again, never a lock-out).
 */
export interface RateVerdict {
  ok: boolean;
  /** Whole seconds until one request is allowed again (when not ok). */
  retryAfterSeconds?: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly maxKeys = 10_000,
  ) {}

  take(key: string, nowMs: number): RateVerdict {
    const rate = this.perMinute / 60_000;
    const prev = this.buckets.get(key);
    const tokens = prev ? Math.min(this.perMinute, prev.tokens + (nowMs - prev.at) * rate) : this.perMinute;
    this.buckets.delete(key);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: nowMs });
      this.trim();
      return { ok: true };
    }
    this.buckets.set(key, { tokens, at: nowMs });
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / rate / 1000)) };
  }

  private trim() {
    while (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
  }
}
