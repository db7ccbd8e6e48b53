/**
 * Runs the real CLI (dist/darwaza.cjs, built by `npm test`'s pretest, or the single
 * binary) as child processes: the gateway and the upstream simulator, on free ports,
 * in a temp folder initialised by `darwaza init`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from './net.js';

export const REPO = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
export const CLI = join(REPO, 'dist/darwaza.cjs');
export const FIXTURES = resolve(REPO, 'test/fixtures');

/** argv to run the CLI: the bundle under node, or a given binary. */
export function cliArgv(bin?: string): [string, string[]] {
  if (bin) return [bin, []];
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  return [process.execPath, [CLI]];
}

export function runCli(args: string[], opts: { cwd?: string; bin?: string; env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const [cmd, pre] = cliArgv(opts.bin);
  const r = spawnSync(cmd, [...pre, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: "utf8", input: opts.input, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Ports {
  lan: number;
  admin: number;
  mllp: number;
  sim: number;
}

/** `darwaza init` in `dir`, then rewrites the config with free ports and the given patch. */
export async function prepareDir(dir: string, patch: (config: any, ports: Ports) => void = () => {}, bin?: string): Promise<{ ports: Ports; configFile: string }> {
  const r = runCli(['init', '--dir', dir], { bin });
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  const ports = { lan: await freePort(), admin: await freePort(), mllp: await freePort(), sim: await freePort() };
  const configFile = join(dir, 'gateway.config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  config.listen = { lan: `127.0.0.1:${ports.lan}`, admin: `127.0.0.1:${ports.admin}`, mllp: `127.0.0.1:${ports.mllp}` };
  config.simulator = { embedded: false, listen: `127.0.0.1:${ports.sim}` };
  for (const d of config.destinations) d.url = d.url.replace('127.0.0.1:9443', `127.0.0.1:${ports.sim}`);
  // Tests do not wait out production-length breaker cool-downs.
  config.dispatcher = { pollMs: 200, breakerFailures: 5, breakerCooldownMs: 1000 };
  // The default grant: loopback peers as in the demo (from init), and the client certificate the
  // mTLS tests issue ("lab-system") as a sender that also registers consents.
  config.access = { ...config.access, clients: { 'lab-system': { roles: ['sender', 'consent-writer'] }, ...config.access?.clients } };
  patch(config, ports);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return { ports, configFile };
}

export interface Running {
  proc: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnUntil(args: string[], opts: { cwd: string; ready: RegExp; bin?: string; env?: NodeJS.ProcessEnv }): Promise<Running> {
  const [cmd, pre] = cliArgv(opts.bin);
  const proc = spawn(cmd, [...pre, ...args], { cwd: opts.cwd, env: { ...process.env, DARWAZA_LOG_LEVEL: 'warn', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
  const running: Running = {
    proc,
    output: () => out,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${args[0]} did not become ready:\n${out}`));
    }, 30_000);
    const check = () => {
      if (opts.ready.test(out)) {
        clearTimeout(timer);
        proc.stdout!.off('data', check);
        resolve(running);
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code} before it was ready:\n${out}`));
    });
  });
}

export function startGatewayProcess(dir: string, opts: { bin?: string; env?: NodeJS.ProcessEnv; extraArgs?: string[] } = {}) {
  return spawnUntil(['start', '--config', join(dir, 'gateway.config.json'), '--no-simulator', ...(opts.extraArgs ?? [])], {
    cwd: dir,
    ready: /darwaza listening/,
    bin: opts.bin,
    env: opts.env,
  });
}

export function startSimulatorProcess(dir: string, port: number, opts: { bin?: string; extraArgs?: string[] } = {}) {
  return spawnUntil(['upstream-sim', '--listen', `127.0.0.1:${port}`, ...(opts.extraArgs ?? [])], {
    cwd: dir,
    ready: /listening/,
    bin: opts.bin,
  });
}

export async function simReceived(port: number): Promise<{ count: number; ids: string[] }> {
  const r = await fetch(`http://127.0.0.1:${port}/_sim/received`);
  return (await r.json()) as { count: number; ids: string[] };
}

export async function simControl(port: number, body: Record<string, unknown>) {
  const r = await fetch(`http://127.0.0.1:${port}/_sim/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`sim control failed: ${r.status}`);
}

export async function waitDelivered(lanPort: number, id: string, timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const r = await fetch(`http://127.0.0.1:${lanPort}/messages/${id}`);
      const m = (await r.json()) as { destinations: { state: string }[] };
      return m.destinations?.length && m.destinations.every((d) => d.state === 'delivered') ? m : undefined;
    },
    { timeoutMs, what: `message ${id} delivered` },
  );
}

export { waitFor };
