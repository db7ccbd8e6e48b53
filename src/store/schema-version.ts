/**
 * The schema version of the whole database, kept in SQLite's `PRAGMA user_version`.
 * Bump SCHEMA_VERSION in the release that adds a migration to any module. Opening:
 *   newer than this binary knows → refused, nothing changed (an older binary never writes
 *     into a newer database, whose tables it would misread);
 *   older, with tables in it → a copy is made first (`VACUUM INTO`, a consistent snapshot,
 *     beside the database in backups/), then the version is raised and the modules' pending
 *     migrations run forward as they open;
 *   empty → stamped with the current version.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type Database from 'better-sqlite3';

/** 1: the first versioned schema (queue 3, audit 1, crypto 1, consent 1, patient-memory 1, auth 1, config-record 1). */
/** 2: queue 4 (four link lanes, 0 emergency … 3 research/bulk). */
export const SCHEMA_VERSION = 2;
/** Pre-upgrade copies go here, inside the data folder. */
export const UPGRADE_BACKUP_DIR = 'backups';

export class SchemaVersionError extends Error {
  override name = 'SchemaVersionError';
}

export interface SchemaUpgrade {
  from: number;
  to: number;
  /** The copy made before anything changed (undefined for an empty database). */
  backup?: string;
}

const upgrades = new WeakMap<Database.Database, SchemaUpgrade>();

/** The upgrade this connection's open performed, if any (the gateway logs it). */
export function upgradeOf(db: Database.Database): SchemaUpgrade | undefined {
  return upgrades.get(db);
}

export function schemaVersionOf(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function tooNewMessage(file: string, found: number): string {
  return `${file} has schema version ${found}, but this darwaza knows schema versions up to ${SCHEMA_VERSION}: a newer darwaza wrote it. Run that version or a later one, or restore a backup taken with this one. Nothing was changed.`;
}

/** Refuses a newer database; upgrades an older one after a copy. Called by openDatabase. */
export function checkSchemaVersion(db: Database.Database, file: string, readonly: boolean, now: () => Date = () => new Date()): void {
  const found = schemaVersionOf(db);
  if (found > SCHEMA_VERSION) throw new SchemaVersionError(tooNewMessage(file, found));
  if (found === SCHEMA_VERSION || readonly || file === ':memory:') return;
  const established = !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").get();
  let backup: string | undefined;
  if (established) {
    const dir = join(dirname(file), UPGRADE_BACKUP_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stamp = now().toISOString().replace(/[:.]/g, '-');
    backup = join(dir, `darwaza.db.schema-${found}.${stamp}.db`);
    if (existsSync(backup)) throw new SchemaVersionError(`${backup} already exists: not overwriting a pre-upgrade copy`);
    db.prepare('VACUUM INTO ?').run(backup);
    chmodSync(backup, 0o600);
  }
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
  upgrades.set(db, { from: found, to: SCHEMA_VERSION, backup });
}
