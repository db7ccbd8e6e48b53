/**
 * `darwaza tokens` — API tokens for scripts and the console: create (prints the secret
 * once), list (never a secret), revoke. Tokens live hashed in the gateway's database;
 * creating and revoking are audited as admin actions. A running gateway sees a revoke on
 * the next request.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { openDatabase, databaseFile, DB_FILE_NAME, type Db } from '../../store/index.js';
import type { AuditSink } from '../../model/index.js';
import { AuditLog, auditEvents } from '../../audit/index.js';
import { GRANTS, ROLES, TokenError, TokenStore, parseDuration, type TokenInfo } from '../../auth/index.js';
import { rethrowIfDenied } from '../access.js';

export interface TokensCommandDeps {
  /** Audit sink on the opened database; without it, nothing is audited. */
  openAudit?: (db: Db) => AuditSink;
  /** The clock (tests). */
  now?: () => Date;
}

const USAGE = `Usage: darwaza tokens <subcommand> [--config FILE | --data-dir DIR]

Subcommands:
  create --name N --roles R[,R...] [--grants G[,G...]] [--expires 90d]
                 make a token; its secret is printed once, here, and never again
  list           every token: id, name, roles, grants, state, expiry, last use (never secrets)
  revoke <id>    revoke a token for good (a running gateway refuses it on the next request)

Options (${DB_FILE_NAME} is in the data folder):
${pathUsage('config', 'data-dir')}
  --expires D      lifetime: Nd, Nh or Nm (default 90d), or a date (YYYY-MM-DD)
  --json           machine-readable output
Roles: ${ROLES.join(', ')}. Grants (sender only): ${GRANTS.join(', ')}.`;

const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

function expiry(value: string | undefined, now: Date): Date {
  const v = value ?? '90d';
  const ms = parseDuration(v);
  if (ms !== undefined) return new Date(now.getTime() + ms);
  if (/^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`))) return new Date(`${v}T00:00:00Z`);
  throw new UsageError(`--expires: "${v}" is not a lifetime (90d, 12h, 30m) or a date (YYYY-MM-DD)`);
}

function state(t: TokenInfo, now: Date): string {
  if (t.revokedAt) return 'revoked';
  return t.expiresAt.getTime() <= now.getTime() ? 'expired' : 'active';
}

const json = (t: TokenInfo, now: Date) => ({
  id: t.id,
  name: t.name,
  roles: t.roles,
  grants: t.grants,
  state: state(t, now),
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt.toISOString(),
  revokedAt: t.revokedAt?.toISOString() ?? null,
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
});

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

export function makeTokensCommand(deps: TokensCommandDeps = {}): Command {
  return {
    name: 'tokens',
    summary: 'API tokens: create (secret shown once), list, revoke',
    usage: USAGE,
    async run(args, io) {
      const { values, positionals } = parseFlags(args, {
        config: PATH_FLAGS.config,
        'data-dir': PATH_FLAGS['data-dir'],
        name: { type: 'string' },
        roles: { type: 'string' },
        grants: { type: 'string' },
        expires: { type: 'string' },
        json: { type: 'boolean' },
      });
      const [sub, ...rest] = positionals;
      if (!sub) throw new UsageError('a subcommand is required (create, list, revoke)');
      if (!['create', 'list', 'revoke'].includes(sub)) throw new UsageError(`unknown subcommand: ${sub}`);
      const now = deps.now?.() ?? new Date();
      if (sub === 'create') {
        if (rest.length) throw new UsageError('create takes no positional arguments');
        if (!values.name) throw new UsageError('create needs --name');
        if (!list(values.roles).length) throw new UsageError(`create needs --roles (one or more of ${ROLES.join(', ')})`);
      } else if (sub === 'revoke' && rest.length !== 1) throw new UsageError('revoke takes one token id');
      else if (sub === 'list' && rest.length) throw new UsageError('list takes no positional arguments');
      const expiresAt = sub === 'create' ? expiry(values.expires, now) : undefined;

      let dataDir: string;
      try {
        dataDir = resolvePaths(io, values).dataDir();
      } catch (err) {
        rethrowIfDenied(err);
        io.err(`darwaza tokens: ${(err as Error).message}`);
        return EXIT.badInput;
      }
      const file = databaseFile(dataDir);
      // create may make the database (before the gateway's first start), but only in an existing folder.
      if (sub === 'create' ? !existsSync(dirname(file)) : !existsSync(file)) {
        io.err(`darwaza tokens: no ${sub === 'create' ? 'data folder' : 'database'} at ${sub === 'create' ? dirname(file) : file} (use --config or --data-dir)`);
        return EXIT.badInput;
      }
      let db: Db;
      try {
        db = openDatabase(file);
      } catch (err) {
        rethrowIfDenied(err);
        io.err(`darwaza tokens: cannot open ${file} (${(err as { code?: string }).code ?? (err as Error).name})`);
        return EXIT.runtime;
      }
      try {
        const store = TokenStore.open(db);
        const audit = deps.openAudit?.(db);
        const record = (reason: string) =>
          audit?.append([auditEvents.adminAction({ time: now, actor: 'cli', decision: 'tokens.manage', reason })]);
        switch (sub) {
          case 'create': {
            let made: { token: string; info: TokenInfo };
            try {
              made = db.transaction(() => {
                const m = store.create({ name: values.name!, roles: list(values.roles), grants: list(values.grants), expiresAt: expiresAt! }, now);
                record(`token ${m.info.id} ("${m.info.name}") created with roles ${m.info.roles.join(', ')}${m.info.grants.length ? `, grants ${m.info.grants.join(', ')}` : ''}`);
                return m;
              })();
            } catch (err) {
              if (err instanceof TokenError) throw new UsageError(err.message);
              throw err;
            }
            if (values.json) io.out(JSON.stringify({ ...json(made.info, now), token: made.token }));
            else {
              io.out(`created token ${made.info.id} "${made.info.name}" (roles: ${made.info.roles.join(', ')}${made.info.grants.length ? `; grants: ${made.info.grants.join(', ')}` : ''}; expires ${made.info.expiresAt.toISOString()})`);
              io.out('The secret is shown this once and cannot be shown again; store it now:');
              io.out(made.token);
            }
            return EXIT.ok;
          }
          case 'list': {
            const tokens = store.list();
            if (values.json) io.out(JSON.stringify(tokens.map((t) => json(t, now))));
            else if (!tokens.length) io.out('(no tokens)');
            else {
              io.out([pad('id', 16), pad('name', 20), pad('state', 8), pad('expires', 24), pad('last used', 24), 'roles (grants)'].join(' '));
              for (const t of tokens) {
                io.out(
                  [pad(t.id, 16), pad(t.name, 20), pad(state(t, now), 8), pad(t.expiresAt.toISOString(), 24), pad(t.lastUsedAt?.toISOString() ?? '-', 24), `${t.roles.join(',')}${t.grants.length ? ` (${t.grants.join(',')})` : ''}`].join(' '),
                );
              }
            }
            return EXIT.ok;
          }
          case 'revoke': {
            const id = rest[0]!;
            const r = db.transaction(() => {
              const out = store.revoke(id, now);
              if (out.outcome === 'revoked') record(`token ${id} ("${out.info!.name}") revoked`);
              return out;
            })();
            if (r.outcome === 'unknown') {
              io.err(`darwaza tokens: no token ${id.slice(0, 40)}`);
              return EXIT.failed;
            }
            io.out(r.outcome === 'revoked' ? `revoked token ${id} "${r.info!.name}"` : `token ${id} "${r.info!.name}" was already revoked at ${r.info!.revokedAt!.toISOString()}`);
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

export const command: Command = makeTokensCommand({
  openAudit: (db) => AuditLog.open(db),
});
