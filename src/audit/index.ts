/** The audit log's face: append-only Merkle log, signed heads, proofs, verification, exports, reports, ATNA. */
export { AuditLog, AuditLogError, type AuditLogOptions, type InclusionProof, type StoredEntry } from './log.js';
export { scheduleTreeBuild, type TreeBuildOptions } from './tree-build.js';
export { verifyLog, type VerifyOptions, type VerifyResult, type BadEntry } from './verify.js';
export {
  type Signer,
  type SignedTreeHead,
  treeHeadBytes,
  verifyTreeHeadSignature,
  checkTreeHeadShape,
  keyFingerprint,
  TREE_HEAD_TYPE,
} from './heads.js';
export {
  toEntry,
  plainReason,
  parseEntry,
  AuditEventError,
  isPatientToken,
  AUDIT_EVENT_TYPES,
  ENTRY_VERSION,
  REASON_MAX,
  type AuditEntry,
} from './entry.js';
export { canonicalJson, CanonicalJsonError } from './canonical.js';
export { auditEvents, type AuditInput, type AuditTime } from './events.js';
export {
  leafHash,
  nodeHash,
  verifyInclusion,
  verifyConsistency,
  inclusionPath,
  consistencyPath,
  EMPTY_ROOT,
  TreeBuilder,
  type Hash,
} from './merkle.js';
export { exportLog, ExportError, EXPORT_FILES, README as EXPORT_README, type ExportManifest, type ExportOptions, type GatewayPublicKeyFile, type TreeHeadsFile, type ProofLine } from './export.js';
export { toFhirAuditEvent, FHIR_SYSTEMS } from './fhir.js';
export {
  disclosures,
  breachReport,
  breachSummary,
  breakGlassReport,
  breakGlassSummary,
  DEFAULT_BREACH_EVENTS,
  type DisclosureRow,
  type BreachReport,
  type BreakGlassReport,
  type BreakGlassUse,
  sourcesSeen,
} from './reports.js';
export { migrateAudit, AUDIT_MIGRATIONS } from './schema.js';
export { recordConfigChange, CONFIG_RECORD_MIGRATIONS, CONFIG_RECORD_MODULE } from './config-record.js';
export { startAtnaFeed, frameSyslog, DEFAULT_ATNA, ATNA_PRI, ATNA_ALERT_PRI, ATNA_SD_ID, type AtnaFeed, type AtnaFeedOptions, type AtnaTlsOptions } from './atna.js';
export {
  accessDeniedEvent,
  breakGlassEvent,
  tlsRefusedEvent,
  policyRefusedEvent,
  securityAlertOf,
  scrubBreakGlassReason,
  auditName,
  BREAK_GLASS_REASON_MAX,
  type AccessDeniedInput,
  type BreakGlassInput,
  type TlsRefusedInput,
  type SecurityAlert,
} from './security-events.js';
export { createRefusalAudit, DEFAULT_REFUSAL_WINDOW_MS, DEFAULT_MAX_PEERS_PER_WINDOW, type RefusalAudit, type RefusalAuditOptions } from './refusals.js';
export { integrityFailureEvent, type IntegrityFailure, type IntegrityTable } from './integrity.js';
export { PostgresAuditLog, exportPostgresLog, verifyPostgresLog, continueFromSegment, priorSegments, postgresDisclosures, postgresBreachReport, postgresBreakGlassReport, postgresSourcesSeen, scheduleLeaderTreeHeads, PG_AUDIT_MIGRATIONS, type PostgresAuditLogOptions, type PgQueryable, type PgAuditEntry, type LeaderTreeHeads } from './postgres/index.js';
