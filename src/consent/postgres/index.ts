/**
 * The consent registry and the patient facts on PostgreSQL, behind the async ports of
 * ../ports.ts, for gateways sharing one database (docs/postgres.md). The driver is never
 * loaded by these modules: the caller passes a pg Pool.
 */
export { postgresConsentStore, type PostgresConsentStore, type PostgresConsentStoreOptions, type ConsentAuditLog } from './consents.js';
export { postgresPatientFacts, type PostgresPatientFactsOptions } from './facts.js';
export { PG_CONSENT_MIGRATIONS, PG_PATIENT_MEMORY_MIGRATIONS, type PgConsentMigration } from './schema.js';
export type { PreparableCipher } from './tx.js';
export { copyConsentsFromSqlite, type ConsentCopyCounts } from './copy.js';
