/**
 * Restoring a backup into an empty data folder (and certs folder): decrypt into a private
 * staging folder beside the target, check before anything is put in place — the database's
 * pages (integrity_check), its schema version, the audit log against the restored signing
 * keys, and the restored KEK against the database — then move the files into place.
 * A wrong passphrase, a damaged file or a failed check leaves the targets untouched.
 */
import { closeSync, cpSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { databaseFile, openDatabase, DB_FILE_NAME, SCHEMA_VERSION } from '../../store/index.js';
import { verifyLog } from '../../audit/index.js';
import { kekSourceFromConfig, openAtRestCipher } from '../../crypto/index.js';
import { integrityProblems, listedPublicKeys } from '../doctor/index.js';
import { BackupError, readBackup, readBackupHeader, type BackupHeader } from './format.js';

export interface RestoreOptions {
  dataDir: string;
  certsDir: string;
  /** Where the config kept in the backup goes (default: not written). */
  configOut?: string;
  passphrase: string;
  env?: NodeJS.ProcessEnv;
  clock?: () => Date;
}

export interface RestoreResult {
  header: BackupHeader;
  files: number;
  auditEntries: number;
  messages: number;
  /** Things the operator must do or know (no KEK in the backup, the backup's age). */
  notes: string[];
}

const isEmptyDir = (d: string) => !existsSync(d) || readdirSync(d).length === 0;

function move(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    cpSync(from, to, { recursive: true, preserveTimestamps: true });
    rmSync(from, { recursive: true, force: true });
  }
}

export async function restoreBackup(file: string, opts: RestoreOptions): Promise<RestoreResult> {
  const { header } = readBackupHeader(file);
  if (header.schemaVersion > SCHEMA_VERSION) {
    throw new BackupError(`the backup holds schema version ${header.schemaVersion}, newer than this darwaza knows (${SCHEMA_VERSION}): restore it with darwaza ${header.darwaza} or later`);
  }
  if (existsSync(databaseFile(opts.dataDir))) throw new BackupError(`${opts.dataDir} already holds a database: restore into an empty folder (move the old one aside first)`);
  if (!isEmptyDir(opts.certsDir)) throw new BackupError(`${opts.certsDir} is not empty: restore the keys into an empty folder (--certs-dir)`);
  if (opts.configOut && existsSync(opts.configOut)) throw new BackupError(`${opts.configOut} already exists`);

  const parent = dirname(opts.dataDir);
  mkdirSync(parent, { recursive: true });
  const stage = mkdtempSync(join(parent, `.${basename(opts.dataDir)}.restore-`));
  try {
    const { files } = await readBackup(file, opts.passphrase, (f) => {
      const target = join(stage, f.name);
      mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
      const fd = openSync(target, 'wx', f.mode & 0o777 || 0o600);
      return {
        write: (b) => void writeSync(fd, b),
        close: () => {
          fsyncSync(fd);
          closeSync(fd);
        },
      };
    });
    const db = join(stage, 'data', DB_FILE_NAME);
    const certs = join(stage, 'certs');
    if (!existsSync(db)) throw new BackupError('the backup holds no database');
    const checked = await checkStaged(db, certs, header, opts.env ?? process.env);

    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    move(db, databaseFile(opts.dataDir));
    if (existsSync(opts.certsDir)) rmSync(opts.certsDir, { recursive: true }); // empty, checked above
    mkdirSync(dirname(opts.certsDir), { recursive: true });
    move(certs, opts.certsDir);
    const config = existsSync(join(stage, 'config')) ? readdirSync(join(stage, 'config'))[0] : undefined;
    const notes = [...checked.notes];
    if (opts.configOut && config) move(join(stage, 'config', config), opts.configOut);
    else if (config) notes.push(`the backup also holds the config (${config}); give --config-out FILE to restore it`);
    const ageDays = Math.floor(((opts.clock ?? (() => new Date()))().getTime() - Date.parse(header.createdAt)) / 86_400_000);
    notes.push(
      `the backup was taken ${header.createdAt} (${ageDays} days ago). Data keys shredded since then (erasures, retention) are back in this copy: start the gateway so retention runs, and repeat any erasure or purge made after that date (the audit log's \`purged\` entries since then).`,
    );
    return { header, files: files.length, auditEntries: checked.auditEntries, messages: checked.messages, notes };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

async function checkStaged(dbFile: string, certsDir: string, header: BackupHeader, env: NodeJS.ProcessEnv) {
  const notes: string[] = [];
  const db = openDatabase(dbFile, { readonly: true });
  try {
    const problems = integrityProblems(db);
    if (problems.length) throw new BackupError(`the database in the backup is damaged: ${problems.join('; ').slice(0, 300)}`);
    const has = (t: string) => !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t);
    let auditEntries = 0;
    if (has('audit_entries')) {
      if (!existsSync(join(certsDir, 'signing-keys.json'))) throw new BackupError('the backup holds an audit log but no signing-keys.json to verify it with');
      const r = await verifyLog(db, listedPublicKeys(certsDir));
      if (!r.ok) throw new BackupError(`the audit log in the backup does not verify: ${r.reason}`);
      auditEntries = r.size;
    }
    const messages = has('queue_messages') ? (db.prepare('SELECT COUNT(*) AS n FROM queue_messages').get() as { n: number }).n : 0;
    if (has('crypto_kek') && db.prepare('SELECT 1 FROM crypto_kek WHERE id = 1').get()) {
      if (header.kek === 'file') {
        const cipher = await openAtRestCipher(db, { kek: kekSourceFromConfig('file', { certsDir, env }) }).catch((err: Error) => {
          throw new BackupError(`the key-encryption key in the backup does not open its database: ${err.message}`);
        });
        cipher.close();
      } else {
        notes.push(`the KEK came from ${header.kek === 'env' ? 'an environment variable' : 'a passphrase'} and is not in the backup: configure the same one (keys.kek) before starting`);
      }
    }
    return { auditEntries, messages, notes };
  } finally {
    db.close();
  }
}
