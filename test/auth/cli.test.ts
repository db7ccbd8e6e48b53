import t from 'tap';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CliIo } from '../../src/cli/command.js';
import { UsageError } from '../../src/cli/command.js';
import { makeTokensCommand } from '../../src/cli/commands/tokens.js';
import { openDatabase } from '../../src/store/index.js';
import { AuditLog } from '../../src/audit/index.js';
import { TokenStore, parseToken } from '../../src/auth/index.js';
import { runCli } from '../helpers/processes.js';

function io(cwd: string) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { out: (l) => void out.push(l), err: (l) => void err.push(l), isTTY: false, cwd, env: {}, readStdin: async () => '' };
  return { io: value, out, err };
}

const TOKEN_LINE = /^dz_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

t.test('in process: usage errors, create, list, revoke, audited', async (t) => {
  const dir = t.testdir();
  mkdirSync(join(dir, 'data'));
  const cmd = makeTokensCommand({ openAudit: (db) => AuditLog.open(db) });
  const c = io(dir);
  for (const args of [[], ['mint'], ['create'], ['create', '--name', 'x'], ['create', '--name', 'x', '--roles', 'sender', '--expires', 'soon'], ['revoke'], ['list', 'extra']]) {
    await t.rejects(cmd.run(args, c.io), UsageError, args.join(' ') || '(nothing)');
  }
  await t.rejects(cmd.run(['create', '--name', 'x', '--roles', 'root'], c.io), /not a role/);
  await t.rejects(cmd.run(['create', '--name', 'x', '--roles', 'operator', '--grants', 'break-glass'], c.io), /sender/);
  t.equal(await cmd.run(['list', '--data-dir', 'nowhere'], c.io), 3, 'no database');

  const made = io(dir);
  t.equal(await cmd.run(['create', '--name', 'lab-engine', '--roles', 'sender', '--grants', 'integration-engine', '--expires', '7d'], made.io), 0);
  const token = made.out.find((l) => TOKEN_LINE.test(l));
  t.ok(token, 'the token is printed on a line of its own');
  const id = parseToken(token!)!.id;

  const listed = io(dir);
  t.equal(await cmd.run(['list', '--json'], listed.io), 0);
  const rows = JSON.parse(listed.out.join('\n'));
  t.match(rows, [{ id, name: 'lab-engine', roles: ['sender'], grants: ['integration-engine'], state: 'active' }]);
  t.notMatch(listed.out.join('\n'), parseToken(token!)!.secret);

  const db = openDatabase(join(dir, 'data', 'darwaza.db'));
  t.teardown(() => db.close());
  const store = TokenStore.open(db);
  t.ok(store.verify(token!).ok);
  const rev = io(dir);
  t.equal(await cmd.run(['revoke', id], rev.io), 0);
  t.match(rev.out.join('\n'), /revoked token/);
  t.notOk(store.verify(token!).ok, 'revoked by the CLI, refused by an already-open store');
  t.equal(await cmd.run(['revoke', id], io(dir).io), 0, 'revoking twice is not an error');
  t.equal(await cmd.run(['revoke', '0000000000000000'], io(dir).io), 1, 'unknown id');

  const entries = db.prepare("SELECT * FROM audit_entries").all() as Record<string, unknown>[];
  const text = JSON.stringify(entries);
  t.match(text, /tokens\.manage/, 'create and revoke are audited');
  t.notMatch(text, parseToken(token!)!.secret, 'never the secret in the audit');
});

t.test('end to end: the built CLI on a real data dir made by init', async (t) => {
  const dir = t.testdir();
  const init = runCli(['init', '--dir', dir]);
  t.equal(init.code, 0, init.stderr);
  const config = join(dir, 'gateway.config.json');

  const help = runCli(['tokens', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /darwaza tokens <subcommand>/);
  t.match(runCli(['help']).stdout, /tokens/, 'listed by `darwaza help`');

  const created = runCli(['tokens', 'create', '--config', config, '--name', 'nightly-export', '--roles', 'auditor', '--expires', '30d'], { cwd: dir });
  t.equal(created.code, 0, created.stderr);
  const lines = created.stdout.split('\n').filter((l) => TOKEN_LINE.test(l));
  t.equal(lines.length, 1, 'the secret is printed exactly once');
  const token = lines[0]!;
  const { id, secret } = parseToken(token)!;
  t.equal(created.stdout.split(secret).length - 1, 1, 'and nowhere else in the output');
  t.equal(created.stderr.includes(secret), false);

  const listed = runCli(['tokens', 'list', '--config', config], { cwd: dir });
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, new RegExp(`${id}\\s+nightly-export\\s+active`));
  t.notMatch(listed.stdout + listed.stderr, secret, 'list never shows the secret');

  // The secret is in no file of the data folder (WAL included).
  const dataDir = join(dir, 'data');
  for (const f of readdirSync(dataDir)) {
    const bytes = readFileSync(join(dataDir, f));
    t.equal(bytes.indexOf(secret), -1, `${f} does not hold the secret`);
  }

  const db = openDatabase(join(dataDir, 'darwaza.db'));
  t.teardown(() => db.close());
  const store = TokenStore.open(db);
  t.ok(store.verify(token).ok, 'the printed token verifies');

  const revoked = runCli(['tokens', 'revoke', id, '--config', config], { cwd: dir });
  t.equal(revoked.code, 0, revoked.stderr);
  const v = store.verify(token);
  t.notOk(v.ok, 'after revoke, verify fails');
  if (!v.ok) t.match(v.reason, /revoked/);
  t.match(runCli(['tokens', 'list', '--data-dir', dataDir]).stdout, new RegExp(`${id}\\s+nightly-export\\s+revoked`));

  const bad = runCli(['tokens', 'create', '--config', config, '--name', 'x', '--roles', 'wizard'], { cwd: dir });
  t.equal(bad.code, 2, 'a bad role is a usage error');
  t.match(bad.stderr, /not a role/);
});

t.test('tokens finds the database like the other commands: --config, then ./gateway.config.json, then ./data', async (t) => {
  const dir = t.testdir();
  mkdirSync(join(dir, 'elsewhere'));
  const { writeFileSync } = await import('node:fs');
  const { DEMO_CONFIG } = await import('../../src/config/index.js');
  writeFileSync(join(dir, 'gateway.config.json'), JSON.stringify({ ...DEMO_CONFIG, dataDir: './elsewhere' }));
  const cmd = makeTokensCommand({ openAudit: (db) => AuditLog.open(db) });
  const c = io(dir);
  t.equal(await cmd.run(['create', '--name', 'implicit', '--roles', 'auditor'], c.io), 0, c.err.join('\n'));
  t.equal(await cmd.run(['create', '--name', 'explicit', '--roles', 'auditor', '--config', 'gateway.config.json'], c.io), 0, c.err.join('\n'));
  const db = openDatabase(join(dir, 'elsewhere', 'darwaza.db'));
  t.same(TokenStore.open(db).list().map((x) => x.name), ['implicit', 'explicit'], "both went to the config's dataDir");
  db.close();
});
