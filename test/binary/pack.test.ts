/**
 * The npm tarball as a user gets it: `npm pack`, then `npm install -g --prefix` into a
 * temp folder, then the installed `darwaza` runs --version, init and start (answers
 * /healthz, stops cleanly on SIGTERM); `npm exec --package=<tarball>` runs it too.
 * The install runs with --ignore-scripts and is given the repository's own compiled
 * better-sqlite3 addon: compiling SQLite again at -O3 takes one to several minutes on a
 * busy 2-core machine, and proves nothing about the tarball (npm ci already compiled it
 * from source for this very Node). Needs the packages in the npm cache (--prefer-offline).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO, runCli, spawnUntil } from '../helpers/processes.js';

// The whole file may outlast tap's per-file timeout while better-sqlite3 compiles.
t.setTimeout(900_000);

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const QUIET = ['--prefer-offline', '--no-audit', '--no-fund'];

function npm(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }) {
  const r = spawnSync('npm', args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

t.test('npm pack → npm install -g → darwaza --version, init, start; npm exec runs it too', { timeout: 900_000 }, async (t) => {
  t.equal(pkg.scripts.prepack, 'node scripts/build.mjs', 'npm pack builds dist/darwaza.cjs first');
  t.ok(existsSync(join(REPO, 'dist/darwaza.cjs')), 'dist/darwaza.cjs is built (npm test builds it)');
  const dir = t.testdir();

  // --ignore-scripts: the bundle is already built, and rebuilding it here would rewrite
  // dist/darwaza.cjs under the other test files that are running it at the same time.
  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO });
  t.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'bin/darwaza.js', 'dist/darwaza.cjs', 'README.md', 'LICENSE', 'NOTICE', 'policies/pk/pk.policy.yaml']) {
    t.ok(files.includes(f), `the tarball has ${f}`);
  }
  const stray = files.filter((p) => /^(node_modules|data|certs|\.tap|test|coverage|\.ci)\//.test(p) || /(^|\/)node_modules\//.test(p));
  t.same(stray, [], 'no node_modules, data, certs, .tap or tests in the tarball');
  const tgz = join(dir, info.filename);

  const prefix = join(dir, 'prefix');
  const installed = npm(['install', '-g', '--ignore-scripts', '--prefix', prefix, tgz, ...QUIET], { cwd: dir, timeoutMs: 600_000 });
  t.equal(installed.code, 0, `npm install -g: ${installed.stderr.slice(-2000)}`);
  const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
  const installedSqlite = join(prefix, 'lib', 'node_modules', pkg.name, 'node_modules', 'better-sqlite3', 'build', 'Release');
  mkdirSync(installedSqlite, { recursive: true });
  copyFileSync(join(REPO, addon), join(installedSqlite, 'better_sqlite3.node'));
  const bin = join(prefix, 'bin', 'darwaza');
  t.ok(existsSync(bin), 'npm linked bin/darwaza');

  const app = join(dir, 'app');
  const v = runCli(['--version'], { bin, cwd: dir });
  t.equal(v.code, 0, v.stderr);
  t.equal(v.stdout.split('\n')[0], pkg.version);
  const init = runCli(['init', '--dir', app], { bin, cwd: dir });
  t.equal(init.code, 0, init.stderr);
  t.ok(existsSync(join(app, 'gateway.config.json')) && existsSync(join(app, 'certs', 'kek.key')), 'init made a config and the key set');

  // Port 0 everywhere: the gateway prints the ports it got.
  const gw = await spawnUntil(
    ['start', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--mllp-listen', '127.0.0.1:0', '--no-simulator'],
    { cwd: app, bin, ready: /darwaza listening/ },
  );
  t.teardown(() => gw.kill('SIGKILL'));
  const admin = /admin http:\/\/127\.0\.0\.1:(\d+)/.exec(gw.output())?.[1];
  t.ok(admin, 'start printed its admin port');
  const health = await fetch(`http://127.0.0.1:${admin}/healthz`);
  t.equal(health.status, 200, '/healthz answers');
  t.equal(await gw.kill('SIGTERM'), 0, 'SIGTERM stops it cleanly');

  // npm exec installs the tarball again into npm's _npx cache; install scripts are skipped
  // there (--version never opens the database), so the slow compile happens only once.
  const npxCache = join(process.env.npm_config_cache ?? join(homedir(), '.npm'), '_npx');
  const before = new Set(existsSync(npxCache) ? readdirSync(npxCache) : []);
  t.teardown(() => {
    for (const d of existsSync(npxCache) ? readdirSync(npxCache) : []) if (!before.has(d)) rmSync(join(npxCache, d), { recursive: true, force: true });
  });
  const viaExec = npm(['exec', '--yes', ...QUIET, `--package=${tgz}`, '--', 'darwaza', '--version'], {
    cwd: dir,
    env: { npm_config_ignore_scripts: 'true' },
    timeoutMs: 300_000,
  });
  t.equal(viaExec.code, 0, viaExec.stderr);
  t.equal(viaExec.stdout.split('\n')[0], pkg.version, 'npm exec --package=<tarball> runs darwaza');
});
