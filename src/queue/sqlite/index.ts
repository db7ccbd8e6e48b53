/** The SQLite implementation of the queue port. */
export { SqliteQueueStore } from './store.js';
export { publicState } from './rows.js';
export {
  DEFAULT_MAX_BATCH,
  DEFAULT_LEASE_MS,
  DEFAULT_MIN_FREE_DISK_BYTES,
  DEFAULT_DISK_CHECK_MS,
  DEFAULT_QUOTA_RETRY_AFTER_S,
  DEFAULT_BOOKKEEPING_SYNC,
  type QueueStoreOptions,
} from './options.js';
