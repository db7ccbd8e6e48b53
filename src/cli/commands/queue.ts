/**
 * `darwaza queue` — look into and repair the durable queue: stats, list, inspect,
 * retry dead letters, purge. Opens the gateway's database file; needs no keys
 * (it never reads payloads).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT, DEFAULT_DATA_DIR, UsageError, parseFlags, progress, type CliIo, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { openDatabase, databaseFile, DB_FILE_NAME, type Db } from '../../store/index.js';
import type { AuditSink } from '../../model/index.js';
import { ITEM_STATES, SqliteQueueStore, type ItemState, type ItemStatus } from '../../queue/index.js';

/** What the CLI main may inject: the audit sink for operator actions. */
export interface QueueCommandDeps {
  /** Audit sink on the opened database (retry/purge are audited). Without it, nothing is audited. */
  openAudit?: (db: Db) => AuditSink;
}

export { DEFAULT_DATA_DIR, DB_FILE_NAME };

const USAGE = `Usage: darwaza queue <subcommand> [--data-dir DIR | --config FILE]

Subcommands:
  stats                                   counts and bytes by destination and state
  list [--state S] [--destination D] [--limit N]
                                          rows (ids, destination, state, attempts, last error)
  inspect <message-id>                    one message and where it stands per destination
  retry [--destination D] [message-id...] dead letters back to the queue (all dead, if no filter)
  purge --state dead|delivered [--destination D] --yes
                                          destroy the payloads of these rows (audited)

Options:
${pathUsage('data-dir', 'config')}
  --json                 machine-readable output (stats, list, inspect)
States: ${ITEM_STATES.join(', ')}. Payloads are never printed.`;

/** The database file in a data folder (default ${DEFAULT_DATA_DIR} under io.cwd). */
export function queueDbFile(io: CliIo, dataDir: string | undefined): string {
  return databaseFile(resolve(io.cwd, dataDir ?? DEFAULT_DATA_DIR));
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function rowLine(r: ItemStatus): string {
  return [pad(r.messageId, 38), pad(r.destination, 18), pad(r.state, 11), pad(String(r.attempts), 4), r.lastError ?? ''].join(' ');
}

export function makeQueueCommand(deps: QueueCommandDeps = {}): Command {
  return {
    name: 'queue',
    summary: 'queue stats, list, inspect, retry dead letters, purge',
    usage: USAGE,
    async run(args, io) {
      const { values, positionals } = parseFlags(args, {
        ...PATH_FLAGS,
        state: { type: 'string' },
        destination: { type: 'string' },
        limit: { type: 'string' },
        yes: { type: 'boolean' },
        json: { type: 'boolean' },
      });
      const [sub, ...rest] = positionals;
      if (!sub) throw new UsageError('a subcommand is required (stats, list, inspect, retry, purge)');
      if (!['stats', 'list', 'inspect', 'retry', 'purge'].includes(sub)) throw new UsageError(`unknown subcommand: ${sub}`);
      const state = values.state as ItemState | undefined;
      if (state !== undefined && !(ITEM_STATES as readonly string[]).includes(state)) {
        throw new UsageError(`--state: "${state}" is not one of ${ITEM_STATES.join(', ')}`);
      }
      if (sub === 'purge') {
        if (state !== 'dead' && state !== 'delivered') throw new UsageError('purge needs --state dead or --state delivered');
        if (!values.yes) throw new UsageError('purge destroys payloads for good: add --yes');
      }
      const file = queueDbFile(io, resolvePaths(io, values).sqliteDataDir('queue'));
      if (!existsSync(file)) {
        io.err(`darwaza queue: no database at ${file} (use --data-dir)`);
        return EXIT.badInput;
      }
      let db: Db;
      try {
        db = openDatabase(file);
      } catch (err) {
        io.err(`darwaza queue: cannot open ${file} (${(err as { code?: string }).code ?? (err as Error).name})`);
        return EXIT.runtime;
      }
      try {
        const store = SqliteQueueStore.open(db, {
          quotaBytes: Number.MAX_SAFE_INTEGER,
          minFreeDiskBytes: 0,
          audit: deps.openAudit?.(db),
        });
        switch (sub) {
          case 'stats': {
            const rows = (await store.counts()).sort((a, b) => a.destination.localeCompare(b.destination) || a.state.localeCompare(b.state));
            if (values.json) io.out(JSON.stringify(rows));
            else {
              io.out([pad('destination', 18), pad('state', 11), pad('count', 9), 'bytes held'].join(' '));
              for (const r of rows) io.out([pad(r.destination, 18), pad(r.state, 11), pad(String(r.count), 9), String(r.bytes)].join(' '));
              if (rows.length === 0) io.out('(queue is empty)');
            }
            return EXIT.ok;
          }
          case 'list': {
            const limit = values.limit === undefined ? 50 : Number(values.limit);
            if (!(Number.isInteger(limit) && limit > 0)) throw new UsageError(`--limit: "${values.limit}" must be a positive whole number`);
            const rows = await store.list({ state, destination: values.destination, limit });
            if (values.json) io.out(JSON.stringify(rows));
            else {
              io.out([pad('message', 38), pad('destination', 18), pad('state', 11), pad('try', 4), 'last error'].join(' '));
              for (const r of rows) io.out(rowLine(r));
            }
            return EXIT.ok;
          }
          case 'inspect': {
            if (rest.length !== 1) throw new UsageError('inspect takes one message id');
            const m = await store.inspect(rest[0]!);
            if (!m) {
              io.err(`darwaza queue: no message ${rest[0]}`);
              return EXIT.failed;
            }
            io.out(JSON.stringify(m, null, 2));
            return EXIT.ok;
          }
          case 'retry': {
            const n = await store.retryDead({ destination: values.destination, messageIds: rest.length ? rest : undefined });
            io.out(`re-queued ${n} dead letter${n === 1 ? '' : 's'}`);
            return EXIT.ok;
          }
          case 'purge': {
            if (state !== 'dead' && state !== 'delivered') return EXIT.usage;
            const bar = progress(io, 'purged');
            const n = await store.purge({ state, destination: values.destination, onProgress: (d, t) => bar.update(d, t) });
            bar.done();
            io.out(`purged ${n} ${state} row${n === 1 ? '' : 's'}`);
            return EXIT.ok;
          }
          default:
            throw new UsageError(`unknown subcommand: ${sub}`);
        }
      } finally {
        db.close();
      }
    },
  };
}

export const command: Command = makeQueueCommand();
