/** The one rule for --config, --data-dir and --certs-dir, and every command's --help naming its flags. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePaths, keySetOptions } from '../../src/cli/paths.js';
import { commands } from '../../src/cli/registry.js';
import { DEMO_CONFIG } from '../../src/config/index.js';

const config = (dataDir: string, certsDir: string) => JSON.stringify({ ...DEMO_CONFIG, dataDir, certsDir });

t.test('flags win, then --config, then ./gateway.config.json, then ./data and ./certs', async (t) => {
  const cwd = t.testdir({ 'gateway.config.json': config('./d1', './c1'), other: { 'g.json': config('./d2', './c2') } });
  t.same([resolvePaths({ cwd }, {}).dataDir(), resolvePaths({ cwd }, {}).certsDir()], [join(cwd, 'd1'), join(cwd, 'c1')], 'the config in the current folder');
  const other = resolvePaths({ cwd }, { config: 'other/g.json' });
  t.same([other.dataDir(), other.certsDir()], [join(cwd, 'other/d2'), join(cwd, 'other/c2')], 'relative to the named config');
  const flags = resolvePaths({ cwd }, { config: 'other/g.json', 'data-dir': 'x', 'certs-dir': 'y' });
  t.same([flags.dataDir(), flags.certsDir()], [join(cwd, 'x'), join(cwd, 'y')], 'the flags over the config');

  const empty = t.testdir({});
  const none = resolvePaths({ cwd: empty }, {});
  t.equal(none.configFile, undefined);
  t.same([none.dataDir(), none.certsDir()], [join(empty, 'data'), join(empty, 'certs')]);
  t.throws(() => resolvePaths({ cwd: empty }, { config: 'missing.json' }).dataDir(), { name: 'ConfigError', message: /missing\.json: the config file does not exist/ });
});

t.test('an explicit folder needs no config, so a broken config does not stand in the way', async (t) => {
  const cwd = t.testdir({ 'gateway.config.json': '{ not json' });
  t.equal(resolvePaths({ cwd }, { 'data-dir': 'd' }).dataDir(), join(cwd, 'd'));
  t.throws(() => resolvePaths({ cwd }, {}).certsDir(), { name: 'ConfigError' });
});

t.test('commands that read the SQLite store refuse a config whose state is on PostgreSQL, rather than show an empty appliance', async (t) => {
  const pgConfig = JSON.stringify({ ...DEMO_CONFIG, dataDir: './data', store: { kind: 'postgres', url: 'postgres://darwaza:s3cret@db.local/darwaza', nodeId: 'gw-a' } });
  const cwd = t.testdir({ 'gateway.config.json': pgConfig, data: {} });
  for (const command of ['queue', 'consent', 'patient']) {
    const err = (() => {
      try {
        resolvePaths({ cwd }, {}).sqliteDataDir(command);
      } catch (e) {
        return e as Error;
      }
    })();
    t.equal(err?.name, 'ConfigError', command);
    t.match(err?.message, new RegExp(`store\\.kind is "postgres".*\`darwaza ${command}\` reads the SQLite store only`), command);
    t.notMatch(err?.message, /s3cret/, 'the URL is not echoed');
  }
  t.equal(resolvePaths({ cwd }, { 'data-dir': 'data' }).sqliteDataDir('queue'), join(cwd, 'data'), 'an explicit folder is read as asked (a copy of an appliance)');
  const sqlite = t.testdir({ 'gateway.config.json': config('./data', './certs'), data: {} });
  t.equal(resolvePaths({ cwd: sqlite }, {}).sqliteDataDir('queue'), join(sqlite, 'data'));
});

t.test('the key set follows the config: KEK file unless the KEK comes from elsewhere; demo keys for destinations without a recipient key', async (t) => {
  t.same(keySetOptions(undefined), { kekFile: true, demoRecipients: [] });
  const cwd = t.testdir({ 'gateway.config.json': config('./data', './certs') });
  const c = resolvePaths({ cwd }, {}).config()!;
  t.same(keySetOptions(c), { kekFile: true, demoRecipients: c.destinations.map((d) => d.name) });
  t.same(keySetOptions({ ...c, keys: { ...c.keys, kek: 'env' } }).kekFile, false);
});

t.test("each command's --help documents the location flags it takes", async (t) => {
  const takes: Record<string, string[]> = {
    start: ['--config', '--data-dir', '--certs-dir'],
    queue: ['--config', '--data-dir'],
    consent: ['--config', '--data-dir', '--certs-dir'],
    audit: ['--config', '--data-dir', '--certs-dir'],
    certs: ['--config', '--certs-dir'],
    keys: ['--config', '--certs-dir'],
    envelope: ['--config', '--certs-dir'],
  };
  for (const [name, flags] of Object.entries(takes)) {
    const usage = commands.find((c) => c.name === name)!.usage;
    for (const f of flags) t.match(usage, new RegExp(`^\\s+${f} `, 'm'), `${name} --help: ${f}`);
  }
});
