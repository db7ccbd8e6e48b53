/**
 * A change of configuration is itself audited: at start the configuration's SHA-256 is
 * compared with the one recorded last time, and a difference appends 'config-changed'.
 * The hash it compares with lives in gateway_state, whose migration is here.
 */
import { createHash } from 'node:crypto';
import { migrate, type Db, type Migration } from '../store/index.js';
import type { AuditLog } from './log.js';
import { auditEvents } from './events.js';

/** Recorded under module 'gateway': the name databases made by earlier versions carry. */
export const CONFIG_RECORD_MODULE = 'gateway';

export const CONFIG_RECORD_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'facts about the gateway itself (the hash of the configuration last run)',
    up: (d) => d.exec('CREATE TABLE gateway_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT'),
  },
];

/** Appends 'config-changed' when `configText` differs from the text recorded at the last start. Returns the hash. */
export function recordConfigChange(db: Db, audit: Pick<AuditLog, 'append'>, configText: string, clock: () => Date): { sha256: string; changed: boolean } {
  migrate(db, CONFIG_RECORD_MODULE, CONFIG_RECORD_MIGRATIONS);
  const hash = createHash('sha256').update(configText).digest('hex');
  const row = db.prepare("SELECT value FROM gateway_state WHERE key = 'config-sha256'").get() as { value: string } | undefined;
  if (row?.value === hash) return { sha256: hash, changed: false };
  db.transaction(() => {
    audit.append([
      auditEvents.configChanged({
        time: clock(),
        actor: 'gateway',
        configSha256: hash,
        reason: row ? 'the configuration file changed since the last start' : 'first start with a configuration',
      }),
    ]);
    db.prepare("INSERT INTO gateway_state (key, value) VALUES ('config-sha256', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(hash);
  })();
  return { sha256: hash, changed: true };
}
