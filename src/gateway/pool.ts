/**
 * The gateway's worker pool: one worker per core (DARWAZA_POOL_SIZE overrides; 0 runs the
 * checks on the main thread), started DARWAZA_POOL_START_DELAY_MS (default 2 s) after the
 * gateway, so a restart serves at once. Inside the single binary there is no bundle file a worker
 * could load, so the checks run in-process there. Failures are counted in /metrics.
 */
import { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../admin/index.js';
import type { Logger } from '../log/index.js';
import { WorkerPool } from '../pipeline/index.js';

function inSingleBinary(): boolean {
  try {
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

function envMs(name: string, fallback: number): number {
  const v = process.env[name];
  return v !== undefined && /^\d{1,7}$/.test(v) ? Number(v) : fallback;
}

export function startPool(metrics: Metrics, logger: Logger): WorkerPool {
  const failures = new Counter({
    name: 'darwaza_worker_failures_total',
    help: 'Pool workers that crashed or hung and were replaced (their messages were refused, not accepted)',
    labelNames: ['reason'],
    registers: [metrics.registry],
  });
  for (const reason of ['crash', 'hang']) failures.inc({ reason }, 0);
  const ready = new Gauge({ name: 'darwaza_worker_pool_ready', help: 'Pool workers started and taking work', registers: [metrics.registry] });
  const env = process.env.DARWAZA_POOL_SIZE;
  const size = inSingleBinary() ? 0 : env !== undefined && /^\d{1,3}$/.test(env) ? Number(env) : undefined;
  return new WorkerPool({
    ...(size !== undefined ? { size } : {}),
    // Workers join once the gateway serves (the checks run on the main thread until then).
    startDelayMs: envMs('DARWAZA_POOL_START_DELAY_MS', 2000),
    onReady: (n) => ready.set(n),
    onFailure: (reason) => {
      failures.inc({ reason });
      logger.error({ reason }, 'a pool worker failed and was replaced; the messages it held were refused');
    },
  });
}
