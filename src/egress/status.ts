/**
 * The uplink contract as pure functions (docs/design.md): 2xx or 409 = delivered;
 * 408, 429, 5xx = retry (honour Retry-After); any other 4xx = dead letter.
 */
import type { DeliveryResult } from '../model/index.js';

/** Retry-After longer than this is capped (a day): a typo upstream must not park a message for years. */
export const MAX_RETRY_AFTER_MS = 24 * 3600_000;

/** Retry-After as delay-seconds or an HTTP-date → milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

export function classifyStatus(status: number, retryAfter: string | string[] | undefined, now: number): DeliveryResult {
  if ((status >= 200 && status < 300) || status === 409) return { kind: 'delivered', status };
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    return { kind: 'retry', status, error: `HTTP ${status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  if (status >= 400 && status < 500) return { kind: 'dead', status, error: `HTTP ${status} (permanent)` };
  // 1xx/3xx are outside the contract (redirects are not followed): not permanent, try again later.
  return { kind: 'retry', status, error: `unexpected HTTP ${status}` };
}
