/**
 * `darwaza store migrate --to postgres` — moves an appliance's state from its SQLite file to
 * the PostgreSQL a pair will share: the wrapped data keys, the consents and patient facts, the
 * queue (row for row, nothing decrypted), and the audit log, which is closed under a last
 * signed head and kept whole beside the shared log, whose first entry names that head
 * (docs/postgres.md, "Migrating an appliance"). Safe to run again: what is there already stays.
 * The URL is never printed with its password.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { openDatabase, databaseFile } from '../../store/index.js';
import { AuditLog, PostgresAuditLog, continueFromSegment, exportLog, priorSegments } from '../../audit/index.js';
import { copyDataKeys, getSodium, loadOrCreateKeyStore, postgresDataKeyTable, sqliteDataKeyTable } from '../../crypto/index.js';
import { copyConsentsFromSqlite } from '../../consent/index.js';
import { copyQueueFromSqlite, openPool } from '../../queue/postgres/index.js';
import { shownUrl } from '../../ops/index.js';

export const command: Command = {
  name: 'store',
  summary: 'move an appliance\'s state to PostgreSQL (for a pair)',
  usage: `Usage: darwaza store migrate --to postgres [--url postgres://…] [--config FILE]

Moves this appliance's state from its SQLite file to PostgreSQL: the wrapped data keys (the
same KEK file opens them), the consents and patient facts, the queue (every row, nothing
decrypted; rows that were being delivered are sent again), and the audit log. The SQLite log
is closed under a last signed head and stored whole beside the shared log, whose first entry
names that head: \`darwaza audit verify --config FILE\` then verifies both and the link.
Stop the gateway first. Run again, it changes nothing that is already there. Afterwards set
store.kind to "postgres" (and store.url) in the config, and start the gateway(s).

Options:
${pathUsage('config', 'data-dir', 'certs-dir')}
  --to postgres          the target (the only one)
  --url URL              postgres://user@host:port/database (default: the config's store.url)
Exit: 0 moved (or already there), 2 usage, 3 bad input, 4 runtime error.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, { ...PATH_FLAGS, to: { type: 'string' }, url: { type: 'string' } });
    if (positionals[0] !== 'migrate') throw new UsageError('store needs a subcommand: migrate');
    if (values.to !== 'postgres') throw new UsageError('migrate needs --to postgres');
    const paths = resolvePaths(io, values);
    const config = paths.config();
    const url = values.url ?? (config?.store.kind === 'postgres' ? config.store.url : undefined);
    if (!url) throw new UsageError('give --url postgres://… (or set store.url in the config)');
    if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError('--url must be a postgres:// URL');
    const where = shownUrl(url);
    const dataDir = paths.dataDir();
    const file = databaseFile(dataDir);
    if (!existsSync(file)) {
      io.err(`darwaza store: no database at ${file}`);
      return EXIT.badInput;
    }
    // A gateway still running on this file would accept messages the copy does not see.
    if (config && (await answers(`http://${config.listen.admin.host}:${config.listen.admin.port}/healthz`))) {
      io.err(`darwaza store: the gateway answers on ${config.listen.admin.host}:${config.listen.admin.port}: stop it first, so that nothing it accepts is left behind`);
      return EXIT.badInput;
    }
    await getSodium();
    const keys = await loadOrCreateKeyStore(paths.certsDir());
    const db = openDatabase(file);
    const pool = openPool(url, { max: 2 });
    const scratch = mkdtempSync(join(tmpdir(), 'darwaza-migrate-'));
    try {
      try {
        await pool.query('SELECT 1');
      } catch (err) {
        io.err(`darwaza store: PostgreSQL at ${where} cannot be reached (${(err as { code?: string }).code ?? (err as Error).name})`);
        return EXIT.badInput;
      }
      io.out(`Moving ${file} to PostgreSQL at ${where}`);
      const keysCopied = await copyDataKeys(sqliteDataKeyTable(db), await postgresDataKeyTable(pool));
      io.out(`  data keys: ${keysCopied} on PostgreSQL (wrapped as they were: the same KEK file opens them)`);
      const consents = await copyConsentsFromSqlite(db, pool);
      io.out(`  consents: ${consents.versions} versions, ${consents.tokens} patient tokens; patient facts: ${consents.facts}`);
      const queue = await copyQueueFromSqlite(db, pool);
      io.out(`  queue: ${queue.messages} messages, ${queue.items} rows, ${queue.idempotency} idempotency keys`);

      // The audit log: closed under a last signed head, then kept whole as the shared log's prior segment.
      const signer = keys.signer();
      const sqliteLog = AuditLog.open(db, { signer });
      if (sqliteLog.size() > (sqliteLog.latestHead()?.treeSize ?? 0)) sqliteLog.signTreeHead();
      const last = sqliteLog.latestHead();
      const shared = await PostgresAuditLog.open({ pool, nodeId: 'migrate', signer });
      try {
        const segments = await priorSegments(shared);
        if (!last) {
          io.out('  audit log: empty on the appliance; nothing to continue');
        } else if (segments.some((s) => s.rootHash === last.rootHash && s.treeSize === last.treeSize)) {
          io.out(`  audit log: already continued (the appliance's ${last.treeSize} entries, head ${last.rootHash.slice(0, 16)}…)`);
        } else {
          const dir = join(scratch, 'export');
          exportLog(sqliteLog, { out: dir });
          const head = await continueFromSegment(shared, dir, { source: 'sqlite', actor: `cli:${userInfo().username}` });
          io.out(`  audit log: ${head.treeSize} entries closed under the signed head ${head.rootHash.slice(0, 16)}… (key ${head.keyId}), kept beside the shared log, whose first entry names it`);
        }
      } finally {
        await shared.close();
      }
      io.out('Done. Next: set store.kind to "postgres" and store.url in the config, copy the certs folder to the other node(s), and start the gateways.');
      return EXIT.ok;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
      await pool.end().catch(() => {});
      db.close();
    }
  },
};

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1500) });
    return r.status < 500;
  } catch {
    return false;
  }
}
