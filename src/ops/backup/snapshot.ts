/**
 * Taking a backup of a running appliance: each database file through SQLite's online backup
 * API (better-sqlite3's db.backup(), all pages in one step, so a writer in another process
 * cannot make it restart; WAL readers never block that writer), then every file of the certs
 * folder and the config, all into one encrypted file (format.ts).
 */
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, basename } from 'node:path';
import { databaseFile, openDatabase, DB_FILE_NAME, SCHEMA_VERSION } from '../../store/index.js';
import { darwazaVersion } from '../../embedded/index.js';
import { BackupError, writeBackup, type BackupHeader, type FileToBackUp } from './format.js';

export interface BackupOptions {
  dataDir: string;
  certsDir: string;
  /** The config file in force (kept in the backup for reference), if any. */
  configFile?: string;
  kek: BackupHeader['kek'];
  passphrase: string;
  /** Argon2id cost (default: the KEK passphrase's, 3 passes over 64 MiB). */
  kdf?: { opsLimit: number; memLimitBytes: number };
  clock?: () => Date;
}

export interface BackupResult {
  header: BackupHeader;
  files: Array<{ name: string; size: number }>;
  bytes: number;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Copies the live database to `to` with the online backup API; a consistent snapshot of one moment. */
export async function snapshotDatabase(from: string, to: string): Promise<void> {
  const db = openDatabase(from);
  try {
    // 0x7fffffff pages per step: the whole file in one step under one read transaction.
    await db.backup(to, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
}

export async function takeBackup(out: string, opts: BackupOptions): Promise<BackupResult> {
  const dbFile = databaseFile(opts.dataDir);
  if (!existsSync(dbFile)) throw new BackupError(`no database at ${dbFile}: nothing to back up`);
  if (existsSync(out)) throw new BackupError(`${out} already exists: choose a new file name`);
  if (!existsSync(join(opts.certsDir, 'signing-keys.json'))) throw new BackupError(`${opts.certsDir} holds no keys (signing-keys.json)`);
  // The snapshot sits beside the output (same disk, private folder) and is removed afterwards.
  const work = mkdtempSync(join(dirname(out), `.${basename(out)}.`));
  const tmpOut = join(work, 'backup.partial');
  try {
    const snap = join(work, DB_FILE_NAME);
    await snapshotDatabase(dbFile, snap);
    const files: FileToBackUp[] = [{ name: `data/${DB_FILE_NAME}`, path: snap, mode: 0o600, size: statSync(snap).size }];
    for (const p of walk(opts.certsDir)) {
      const st = statSync(p);
      files.push({ name: `certs/${relative(opts.certsDir, p)}`, path: p, mode: st.mode, size: st.size });
    }
    if (opts.configFile && existsSync(opts.configFile)) {
      files.push({ name: `config/${basename(opts.configFile)}`, path: opts.configFile, mode: statSync(opts.configFile).mode, size: statSync(opts.configFile).size });
    }
    const header = await writeBackup(
      tmpOut,
      opts.passphrase,
      { createdAt: (opts.clock ?? (() => new Date()))().toISOString(), darwaza: darwazaVersion(), schemaVersion: SCHEMA_VERSION, kek: opts.kek, kdf: opts.kdf },
      files,
    );
    renameSync(tmpOut, out);
    return { header, files: files.map((f) => ({ name: f.name, size: f.size })), bytes: statSync(out).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
