/**
 * The durable queue: its port (QueueStore, the interface the pipeline and the dispatcher
 * use), the SQLite implementation, and the dispatcher. See docs/queue.md.
 */
export {
  SqliteQueueStore,
  publicState,
  DEFAULT_MAX_BATCH,
  DEFAULT_LEASE_MS,
  DEFAULT_MIN_FREE_DISK_BYTES,
  DEFAULT_DISK_CHECK_MS,
  DEFAULT_QUOTA_RETRY_AFTER_S,
  DEFAULT_BOOKKEEPING_SYNC,
  type QueueStoreOptions,
} from './sqlite/index.js';
export type {
  QueueStore,
  IngestStore,
  StatusStore,
  DispatchStore,
  WithdrawalStore,
  OperatorStore,
  RetentionStore,
  RetentionCounts,
  RetentionOptions,
  StillPermitted,
} from './port.js';
export {
  Dispatcher,
  DEFAULT_POLL_MS,
  type DispatcherOptions,
  type RecheckResult,
  type DestinationDispatchState,
} from './dispatcher.js';
export { CircuitBreaker, DEFAULT_BREAKER, BREAKER_STATES, type BreakerOptions, type BreakerState } from './breaker.js';
export { backoffDelay, decideRetry, isExpired, type RetryDecision } from './backoff.js';
export { QUEUE_MIGRATIONS } from './schema.js';
export { newMessageId } from './ids.js';
export * from './types.js';
export type { DeliveryResult } from '../model/index.js';
