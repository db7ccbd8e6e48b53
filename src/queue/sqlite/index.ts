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
// Shared with the PostgreSQL store (same rows, states, checks and quota count).
export { laneName, stateCondition, toCountRows, toItemStatus, toMessageStatus, tokenOf, toBuffer, type MessageRow, type StoredCountRow } from './rows.js';
export { validateWrite } from './validate.js';
export { HeldBytes } from './held-bytes.js';
export { HOLDS_PAYLOAD, type ItemRow, type ChangedRow } from './statements.js';
export { PURGE_CHUNK } from './options.js';
export type { WithdrawableRow } from './withdraw.js';
