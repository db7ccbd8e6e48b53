/**
 * src/ops — running the appliance for years: doctor's checks, backup and restore, the systemd
 * unit, schema upgrades, retention warnings and a patient's erasure.
 */
export { runDoctor, DOCTOR_CHECKS, integrityProblems, listedPublicKeys, shownUrl, type DoctorContext } from './doctor/index.js';
export { formatFindings, failed, type Finding, type FindingStatus } from './finding.js';
export {
  takeBackup,
  restoreBackup,
  readBackupHeader,
  snapshotDatabase,
  BackupError,
  BACKUP_FORMAT,
  BACKUP_VERSION,
  MIN_PASSPHRASE,
  type BackupHeader,
  type BackupOptions,
  type BackupResult,
  type RestoreOptions,
  type RestoreResult,
} from './backup/index.js';
export {
  renderUnit,
  installUnit,
  uninstallUnit,
  ServiceError,
  UNIT_NAME,
  DEFAULT_UNIT_DIR,
  DEFAULT_SERVICE_USER,
  DEFAULT_MEMORY_MAX,
  type UnitOptions,
} from './service/index.js';
export { refreshOpsGauges, type GaugeSources } from './gauges.js';
export { scheduleAuditVerify, verifyInChild, selfExec, darwazaExec, DEFAULT_AUDIT_VERIFY_MS, type AuditWatchOptions } from './audit-watch.js';
export { erasePatient, type ErasureOptions, type ErasureResult, type NotErased } from './erase.js';
export { resolveTokens, type ResolvedToken, type ResolveOptions } from './resolve.js';
