/**
 * The durable queue (SQLite) and its dispatcher. See docs/queue.md.
 */
export {
  QueueStore,
  publicState,
  DEFAULT_MAX_BATCH,
  DEFAULT_LEASE_MS,
  DEFAULT_MIN_FREE_DISK_BYTES,
  DEFAULT_DISK_CHECK_MS,
  DEFAULT_QUOTA_RETRY_AFTER_S,
  DEFAULT_BOOKKEEPING_SYNC,
  type QueueStoreOptions,
} from './store.js';
export {
  Dispatcher,
  DEFAULT_POLL_MS,
  type DispatcherOptions,
  type DispatchStore,
  type RecheckResult,
  type DestinationDispatchState,
} from './dispatcher.js';
export { CircuitBreaker, DEFAULT_BREAKER, BREAKER_STATES, type BreakerOptions, type BreakerState } from './breaker.js';
export { backoffDelay, decideRetry, isExpired, type RetryDecision } from './backoff.js';
export { QUEUE_MIGRATIONS } from './schema.js';
export { newMessageId } from './ids.js';
export * from './types.js';
export type { DeliveryResult } from '../model/index.js';
