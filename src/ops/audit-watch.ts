/**
 * The audit log verified on a schedule, in a child process (`darwaza audit verify --json`,
 * the same executable): a full verification of a large log is seconds of CPU, which must not
 * stall the gateway's event loop. Each result sets the metrics the alert rules read.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { Metrics } from '../admin/index.js';

export interface AuditWatchOptions {
  metrics: Pick<Metrics, 'auditVerifyFailures' | 'auditVerifiedAt'>;
  dataDir: string;
  certsDir: string;
  /**
   * The config file, for a pair on PostgreSQL: the child verifies the shared log the config names
   * (`--config FILE`: the URL, which may hold a password, stays off the command line).
   */
  sharedConfigFile?: string;
  /** Whether to run now (on a pair: only the leader verifies the shared log). */
  when?: () => boolean;
  /** How often (default: every 6 hours); the first run is one minute after start. */
  everyMs?: number;
  /** The command that runs darwaza (default: this executable). */
  exec?: string[];
  onResult?: (r: { ok: boolean; reason?: string; size?: number }) => void;
}

export const DEFAULT_AUDIT_VERIFY_MS = 6 * 3600_000;

export function selfExec(): string[] {
  return darwazaExec() ?? [process.execPath, resolve(process.argv[1] ?? 'dist/darwaza.cjs')];
}

/** The command line of this darwaza, or undefined when this process is not the darwaza CLI (a test, an embedding). */
export function darwazaExec(): string[] | undefined {
  try {
    if ((createRequire(import.meta.url)('node:sea') as { isSea(): boolean }).isSea()) return [process.execPath];
  } catch {
    /* not a single binary */
  }
  const script = process.argv[1] ?? '';
  return /(?:darwaza(?:\.c?js)?|main\.ts)$/.test(script) ? [process.execPath, resolve(script)] : undefined;
}

/** One verification in a child process; resolves with its verdict (never rejects). */
export function verifyInChild(o: Pick<AuditWatchOptions, 'dataDir' | 'certsDir' | 'exec' | 'sharedConfigFile'>): Promise<{ ok: boolean; reason?: string; size?: number }> {
  const [cmd, ...pre] = o.exec ?? selfExec();
  return new Promise((done) => {
    const where = o.sharedConfigFile ? ['--config', o.sharedConfigFile] : ['--data-dir', o.dataDir, '--certs-dir', o.certsDir];
    const p = spawn(cmd!, [...pre, 'audit', 'verify', '--json', ...where], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.once('error', () => done({ ok: false, reason: 'could not run the verifier' }));
    p.once('exit', () => {
      try {
        const r = JSON.parse(out) as { ok: boolean; reason?: string; size?: number };
        done({ ok: r.ok === true, reason: r.reason, size: r.size });
      } catch {
        done({ ok: false, reason: 'the verifier gave no verdict' });
      }
    });
  });
}

/** Starts the schedule; without `exec`, only when this process is the darwaza CLI (else it returns a no-op). */
export function scheduleAuditVerify(o: AuditWatchOptions): { stop(): void; runNow(): Promise<void> } {
  const exec = o.exec ?? darwazaExec();
  if (!exec) return { stop() {}, runNow: async () => {} };
  o = { ...o, exec };
  let running = false;
  const run = async () => {
    if (running || (o.when && !o.when())) return;
    running = true;
    try {
      const r = await verifyInChild(o);
      if (r.ok) o.metrics.auditVerifiedAt.set(Date.now() / 1000);
      else o.metrics.auditVerifyFailures.inc();
      o.onResult?.(r);
    } finally {
      running = false;
    }
  };
  const first = setTimeout(run, 60_000);
  const every = setInterval(run, o.everyMs ?? DEFAULT_AUDIT_VERIFY_MS);
  first.unref();
  every.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(every);
    },
    runNow: run,
  };
}
