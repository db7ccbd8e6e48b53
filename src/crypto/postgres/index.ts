/** The wrapped data keys on PostgreSQL (the pool is the caller's; the driver is never loaded here). */
export { postgresDataKeyTable, PG_CRYPTO_MIGRATIONS } from './key-table.js';
