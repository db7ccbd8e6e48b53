/**
 * Retry decisions as pure functions: given the attempt just made, its result and
 * the destination's RetryPolicy, what happens next, and why.
 */
import type { RetryPolicy } from '../model/index.js';

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(maxDelay, base·2^(attempt-1))),
 * then at least the server's Retry-After when it sent one.
 * `attempt` is the number of the attempt that just failed (1 for the first).
 */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number, retryAfterMs?: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, Math.min(attempt - 1, 52)));
  const jittered = Math.floor(random() * exp);
  return Math.max(jittered, retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : 0);
}

export type RetryDecision =
  | { kind: 'retry'; delayMs: number; reason: string }
  | { kind: 'dead'; reason: string };

/** After a retryable failure: retry later, or dead-letter when attempts or age ran out. */
export function decideRetry(input: {
  attempt: number;
  enqueuedAt: number;
  now: number;
  policy: RetryPolicy;
  random: () => number;
  retryAfterMs?: number;
  error: string;
}): RetryDecision {
  const { attempt, enqueuedAt, now, policy } = input;
  if (attempt >= policy.maxAttempts) {
    return { kind: 'dead', reason: `gave up after ${attempt} attempts: ${input.error}` };
  }
  const delayMs = backoffDelay(attempt, policy, input.random, input.retryAfterMs);
  if (now + delayMs - enqueuedAt >= policy.maxAgeMs) {
    return { kind: 'dead', reason: `older than the maximum age of ${Math.round(policy.maxAgeMs / 1000)} s: ${input.error}` };
  }
  return { kind: 'retry', delayMs, reason: input.error };
}

/** Before an attempt: a message past its maximum age is not sent any more. */
export function isExpired(enqueuedAt: number, now: number, policy: RetryPolicy): boolean {
  return now - enqueuedAt >= policy.maxAgeMs;
}
