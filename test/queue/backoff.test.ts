import t from 'tap';
import { backoffDelay, decideRetry, isExpired, CircuitBreaker } from '../../src/queue/index.js';
import type { RetryPolicy } from '../../src/model/index.js';

const policy: RetryPolicy = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 5_000, maxAgeMs: 3_600_000 };

/** A seeded generator, so the jitter test is repeatable. */
function lcg(seed = 42) {
  let s = seed;
  return () => ((s = (s * 1664525 + 1013904223) % 2 ** 32) / 2 ** 32);
}

t.test('backoff grows exponentially with full jitter, within [0, min(max, base·2^(n-1)))', async (t) => {
  const random = lcg();
  for (let attempt = 1; attempt <= 10; attempt++) {
    const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    const samples = Array.from({ length: 200 }, () => backoffDelay(attempt, policy, random));
    t.ok(samples.every((d) => d >= 0 && d < cap), `attempt ${attempt}: all below ${cap}`);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    t.ok(mean > cap * 0.35 && mean < cap * 0.65, `attempt ${attempt}: jitter spreads around half the cap (mean ${Math.round(mean)})`);
  }
  t.equal(backoffDelay(1, policy, () => 0.999999), 99);
  t.equal(backoffDelay(30, policy, () => 0.999999), 4_999, 'capped at maxDelayMs');
});

t.test('Retry-After wins when it is longer than the backoff', async (t) => {
  t.equal(backoffDelay(1, policy, () => 0.5, 7_000), 7_000);
  t.equal(backoffDelay(8, policy, () => 0.9, 10), 4_500, 'a shorter Retry-After does not shorten the backoff');
});

t.test('decideRetry dead-letters after max attempts or past max age, else retries', async (t) => {
  const base = { enqueuedAt: 0, now: 1_000, policy, random: () => 0.5, error: 'HTTP 503' };
  t.match(decideRetry({ ...base, attempt: 3 }), { kind: 'retry', delayMs: 200, reason: 'HTTP 503' });
  t.match(decideRetry({ ...base, attempt: 8 }), { kind: 'dead', reason: /gave up after 8 attempts: HTTP 503/ });
  t.match(decideRetry({ ...base, attempt: 2, now: policy.maxAgeMs - 10 }), { kind: 'dead', reason: /maximum age/ });
  t.ok(isExpired(0, policy.maxAgeMs, policy));
  t.notOk(isExpired(0, policy.maxAgeMs - 1, policy));
});

t.test('the circuit breaker opens after N failures, half-opens after the cool-down, closes on success', async (t) => {
  let now = 0;
  const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1_000 }, () => now);
  t.equal(b.state, 'closed');
  t.equal(b.allowance(), Infinity);
  b.failure();
  b.failure();
  t.equal(b.state, 'closed', 'two failures are not enough');
  b.success();
  b.failure();
  b.failure();
  t.equal(b.state, 'closed', 'a success resets the count');
  b.failure();
  t.equal(b.state, 'open');
  t.equal(b.allowance(), 0);
  t.equal(b.reopensAt(), 1_000);
  now = 999;
  t.equal(b.state, 'open');
  now = 1_000;
  t.equal(b.state, 'half-open');
  t.equal(b.allowance(), 1, 'one probe');
  b.started();
  t.equal(b.allowance(), 0, 'only one probe at a time');
  b.failure();
  t.equal(b.state, 'open', 'a failed probe opens it again');
  now = 2_000;
  t.equal(b.state, 'half-open');
  b.started();
  b.success();
  t.equal(b.state, 'closed');
});

t.test('an open circuit waits for Retry-After when it is longer than the cool-down', async (t) => {
  let now = 0;
  const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1_000 }, () => now);
  b.failure(60_000);
  t.equal(b.reopensAt(), 60_000);
  now = 59_999;
  t.equal(b.state, 'open');
});
