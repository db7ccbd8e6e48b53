/**
 * A byte-rate cap per destination: a token bucket refilled at `rate` bytes/s up to `burst`.
 * Pure: take() returns the new state, or how long to wait. A unit larger than the burst is let
 * through when the bucket is full (and leaves it in debt), so a big batch is slowed, never stuck.
 */
export interface BucketState {
  tokens: number;
  at: number;
}

export interface Bucket {
  /** Bytes per second. */
  rate: number;
  /** Most bytes sent back to back (default: one second's worth). */
  burst: number;
}

export type TakeResult = { ok: true; state: BucketState } | { ok: false; waitMs: number; state: BucketState };

export function bucketFor(rate: number, burst?: number): Bucket {
  return { rate, burst: burst ?? Math.max(rate, 1) };
}

export function fullBucket(b: Bucket, now: number): BucketState {
  return { tokens: b.burst, at: now };
}

export function refill(b: Bucket, s: BucketState, now: number): BucketState {
  const dt = Math.max(0, now - s.at) / 1000;
  return { tokens: Math.min(b.burst, s.tokens + dt * b.rate), at: now };
}

export function take(b: Bucket, s: BucketState, bytes: number, now: number): TakeResult {
  const cur = refill(b, s, now);
  const need = Math.min(bytes, b.burst);
  if (cur.tokens >= need) return { ok: true, state: { tokens: cur.tokens - bytes, at: now } };
  return { ok: false, waitMs: Math.ceil(((need - cur.tokens) / b.rate) * 1000), state: cur };
}
