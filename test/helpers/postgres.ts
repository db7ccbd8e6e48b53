/**
 * A throwaway PostgreSQL cluster for tests: initdb in a temp dir, pg_ctl start on a free
 * port of 127.0.0.1 (and a unix socket in the temp dir), fsync on, trust auth for local
 * connections, one database created. PostgreSQL refuses to run as root, so under root the
 * server runs as the `postgres` system user. Stopped (and its dir removed) in teardown; a
 * process exit handler kills the postmaster too, so a failing test leaves nothing behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Test } from 'tap';
import { freePort, waitFor } from './net.js';

export interface TestPostgres {
  /** postgres://… of the test database. */
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  /** pg_ctl restart (fast shutdown, then start on the same port). */
  restart(): Promise<void>;
  /** SIGKILL of the postmaster (the server stays down until start()). */
  kill9(): Promise<void>;
  start(): Promise<void>;
  /** The two halves of a restart, to act while the server is down. */
  restartParts(): { stop(): Promise<void>; start(): Promise<void> };
  /** A fresh empty database on this server; returns its url. */
  newDatabase(): Promise<string>;
}

/** initdb's folder: on PATH, else the newest /usr/lib/postgresql/N/bin. */
export function findPostgresBin(): string | undefined {
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (d && existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'))) return d;
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, 'bin') : undefined;
}

/** uid/gid of the `postgres` user when running as root (undefined when not root). */
function runAsUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) {
    throw new Error('tests run as root and there is no `postgres` system user: PostgreSQL refuses to run as root (install the postgresql package, which creates it)');
  }
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function run(cmd: string, args: string[], user: { uid: number; gid: number } | undefined, cwd: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}), env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${cmd.split('/').pop()} ${args[0]} failed (${code ?? signal}): ${out.slice(-1500)}`));
    });
  });
}

const live = new Set<string>();
let exitHookInstalled = false;

/** Postmaster pid of a data dir (first line of postmaster.pid), if running. */
function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!pid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that throws or times out may never reach its teardown: kill what is left.
  process.on('exit', () => {
    for (const data of live) {
      const pid = postmasterPid(data);
      if (pid) {
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          /* already gone */
        }
      }
    }
  });
}

/** Starts a throwaway cluster and registers its stop in t.teardown. */
export async function startPostgres(t: Test, opts: { database?: string } = {}): Promise<TestPostgres> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin); .ci/run installs the postgresql package');
  const user = runAsUser();
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const port = await freePort();
  const database = opts.database ?? 'darwaza_test';
  const log = join(dir, 'server.log');
  const serverOpts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=100 -c shared_buffers=16MB`;

  let stopped = false;
  const cleanup = () => {
    live.delete(data);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  };

  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-instructions'], user, dir, 180_000);
  } catch (err) {
    cleanup();
    throw err;
  }
  installExitHook();
  live.add(data);

  const start = () => run(join(bin, 'pg_ctl'), ['start', '-D', data, '-l', log, '-w', '-t', '120', '-o', serverOpts], user, dir, 150_000);
  const pgStop = (mode: 'fast' | 'immediate') => run(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', mode, '-w', '-t', '120'], user, dir, 150_000);

  await start().catch((err) => {
    cleanup();
    throw new Error(`${(err as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-1500) : ''}`);
  });
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();

  let dbs = 0;
  const handle: TestPostgres = {
    newDatabase: async () => {
      const name = `${database}_${++dbs}`;
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    port,
    dir,
    start: async () => {
      await start();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (postmasterPid(data)) await pgStop('fast').catch(() => pgStop('immediate'));
      cleanup();
    },
    restart: async () => {
      await pgStop('fast');
      await start();
    },
    restartParts: () => ({ stop: () => pgStop('fast'), start: () => start() }),
    kill9: async () => {
      const pid = postmasterPid(data);
      if (!pid) throw new Error('postmaster is not running');
      process.kill(pid, 'SIGKILL');
      await waitFor(() => (postmasterPid(data) === undefined ? true : undefined), { timeoutMs: 30_000, what: 'postmaster gone' });
    },
  };
  t.teardown(() => handle.stop());
  return handle;
}

export interface TestStandby {
  port: number;
  /** The standby's URL for a database of the primary (the same name). */
  urlOf(primaryUrl: string): string;
  /** pg_ctl promote: the standby becomes a primary. */
  promote(): Promise<void>;
}

/**
 * A streaming standby of `primary`, made with pg_basebackup and started on its own port, then
 * named in the primary's synchronous_standby_names: from then on every COMMIT on the primary
 * waits until the standby has it (synchronous_commit=on). Stopped in t.teardown.
 */
export async function startSynchronousStandby(t: Test, primary: TestPostgres): Promise<TestStandby> {
  // pg_basebackup sits beside initdb in Debian's package folder (PATH may hold links to initdb and pg_ctl only).
  const bin = [findPostgresBin()!, ...(existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').map((v) => join('/usr/lib/postgresql', v, 'bin')) : [])].find((d) => existsSync(join(d, 'pg_basebackup')));
  if (!bin) throw new Error('pg_basebackup not found beside initdb or under /usr/lib/postgresql/*/bin');
  const user = runAsUser();
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-pg-standby-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const log = join(dir, 'server.log');
  await run(join(bin, 'pg_basebackup'), ['-D', data, '-h', primary.dir, '-p', String(primary.port), '-U', 'postgres', '-X', 'stream', '-R', '-c', 'fast'], user, dir, 180_000);
  // The primary_conninfo pg_basebackup wrote names the primary; the standby reports as "standby".
  const serverOpts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c hot_standby=on -c max_connections=100 -c shared_buffers=16MB -c cluster_name=standby`;
  installExitHook();
  live.add(data);
  await run(join(bin, 'pg_ctl'), ['start', '-D', data, '-l', log, '-w', '-t', '120', '-o', serverOpts], user, dir, 150_000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-1500) : ''}`);
  });
  t.teardown(async () => {
    if (postmasterPid(data)) await run(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '60'], user, dir, 90_000).catch(() => {});
    live.delete(data);
    rmSync(dir, { recursive: true, force: true });
  });
  const admin = new pg.Client({ host: '127.0.0.1', port: primary.port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    await admin.query("ALTER SYSTEM SET synchronous_standby_names = '*'");
    await admin.query('SELECT pg_reload_conf()');
    await waitFor(async () => (await admin.query<{ s: string }>("SELECT sync_state AS s FROM pg_stat_replication")).rows.some((r) => r.s === 'sync') || undefined, { timeoutMs: 60_000, what: 'the standby synchronous' });
  } finally {
    await admin.end();
  }
  return {
    port,
    urlOf: (primaryUrl) => primaryUrl.replace(`:${primary.port}/`, `:${port}/`),
    promote: () => run(join(bin, 'pg_ctl'), ['promote', '-D', data, '-w', '-t', '120'], user, dir, 150_000),
  };
}
