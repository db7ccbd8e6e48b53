/**
 * The audit Merkle log on PostgreSQL, shared by every gateway on the database (docs/postgres.md):
 * the same entries, hashes, heads, proofs and exports as the SQLite log, each entry naming its node.
 */
export { PostgresAuditLog, AUDIT_APPEND_LOCK, type PostgresAuditLogOptions, type PgQueryable, type PgAuditEntry } from './log.js';
export { exportPostgresLog } from './export.js';
export { verifyPostgresLog } from './verify.js';
export { continueFromSegment, priorSegments, verifySegments, type PriorSegment } from './segments.js';
export { postgresDisclosures, postgresBreachReport, postgresBreakGlassReport, postgresSourcesSeen } from './reports.js';
export { scheduleLeaderTreeHeads, type LeaderTreeHeadOptions, type LeaderTreeHeads } from './leader-heads.js';
export { PG_AUDIT_MIGRATIONS, migrateAuditPg, type PgAuditMigration } from './schema.js';
