/**
 * The PostgreSQL implementation of the queue port, for gateways sharing one database
 * (docs/postgres.md). Not yet selectable in the gateway's config: the other stores
 * (consent, audit, patient memory, keys) are still SQLite on each node.
 */
export { PostgresQueueStore, openPool } from './store.js';
export { copyQueueFromSqlite, QueueCopyError, type QueueCopyCounts } from './copy.js';
export { StoreUnavailableError, isUnavailable } from './errors.js';
export { LeaderElection, DEFAULT_LEADER_LOCK, type LeaderOptions } from './leader.js';
export { storedLane } from './accept.js';
export { PG_QUEUE_MIGRATIONS, migratePg, type PgMigration } from './schema.js';
export {
  DEFAULT_PG_LEASE_MS,
  DEFAULT_HELD_REFRESH_MS,
  UNAVAILABLE_RETRY_AFTER_S,
  defaultNodeId,
  type PostgresQueueStoreOptions,
} from './options.js';
