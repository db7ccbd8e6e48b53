/**
 * The gateway's one SQLite file: opening it with the pragmas our promises need,
 * and a forward-only migration runner that each folder (queue, consent, audit,
 * crypto) uses for its own tables. postgres.ts holds the same for the stores on
 * PostgreSQL (migrations, transactions, multi-row VALUES). Nothing else lives here.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkSchemaVersion, SchemaVersionError } from './schema-version.js';

export {
  SCHEMA_VERSION,
  SchemaVersionError,
  schemaVersionOf,
  upgradeOf,
  UPGRADE_BACKUP_DIR,
  type SchemaUpgrade,
} from './schema-version.js';

export type Db = Database.Database;

/** The gateway's one database file, inside its data folder. */
export const DB_FILE_NAME = 'darwaza.db';
export const databaseFile = (dataDir: string): string => join(dataDir, DB_FILE_NAME);

export interface OpenDatabaseOptions {
  /** Loaded better-sqlite3 addon (inside the single binary); undefined = default lookup. */
  nativeBinding?: unknown;
  readonly?: boolean;
}

let defaultNativeBinding: unknown;
/** The single binary registers its embedded addon here before anything opens a database. */
export function setNativeBinding(binding: unknown): void {
  defaultNativeBinding = binding;
}

/**
 * Opens (creating if needed, mode 0600) the database file.
 * - journal_mode=WAL: readers never block the writer; commits append to the WAL.
 * - synchronous=FULL: fsync the WAL on every commit, so an acknowledged message
 *   survives a power cut. It must be set on every open (it is not persisted).
 * - foreign_keys=ON, busy_timeout: a CLI command and the running gateway can share the file.
 * - secure_delete=ON: deleted rows (shredded keys, purged payloads) are zeroed, not left in free pages.
 * - the schema version (schema-version.ts): a newer database is refused; an older one is copied
 *   aside before its version is raised and the modules' migrations run.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Db {
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (!existsSync(file) && !options.readonly) {
      closeSync(openSync(file, 'a', 0o600));
    }
  }
  const nativeBinding = options.nativeBinding ?? defaultNativeBinding;
  const db = new Database(file, {
    readonly: options.readonly ?? false,
    ...(nativeBinding ? { nativeBinding: nativeBinding as string } : {}),
  });
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
  }
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma('secure_delete = ON');
  try {
    checkSchemaVersion(db, file, options.readonly ?? false);
  } catch (err) {
    db.close();
    throw err;
  }
  if (file !== ':memory:' && !options.readonly) {
    try {
      chmodSync(file, 0o600);
    } catch {
      /* not ours to chmod (read-only mount): carry on */
    }
  }
  return db;
}

export interface Migration {
  version: number;
  /** Why this change exists, briefly. */
  description: string;
  up: (db: Db) => void;
}

/**
 * Applies a module's migrations in order, each in its own transaction, recording
 * them in schema_migrations(module, version). Forward only: never edit a shipped one.
 */
export function migrate(db: Db, module: string, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    module TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (module, version)
  ) STRICT`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations WHERE module = ?').all(module) as { version: number }[]).map(
      (r) => r.version,
    ),
  );
  // A version this binary does not have was applied by a newer one: refuse rather than misread its tables.
  const known = Math.max(0, ...migrations.map((m) => m.version));
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new SchemaVersionError(`the database's "${module}" tables are at version ${newest}, but this darwaza knows up to ${known}: a newer darwaza wrote them. Run that version or a later one.`);
  }
  const record = db.prepare(
    'INSERT INTO schema_migrations (module, version, description, applied_at) VALUES (?, ?, ?, ?)',
  );
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      m.up(db);
      record.run(module, m.version, m.description, new Date().toISOString());
    })();
  }
}
export { inPgTransaction, valuesList, chunks, migratePg, migratePgPool, type PgMigration } from './postgres.js';
