export { takeBackup, snapshotDatabase, type BackupOptions, type BackupResult } from './snapshot.js';
export { restoreBackup, type RestoreOptions, type RestoreResult } from './restore.js';
export { readBackupHeader, BackupError, BACKUP_FORMAT, BACKUP_VERSION, MIN_PASSPHRASE, type BackupHeader } from './format.js';
