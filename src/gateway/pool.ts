/**
 * The gateway's worker pool: one worker per core (DARWAZA_POOL_SIZE overrides; 0 runs the
 * checks on the main thread). Inside the single binary there is no bundle file a worker
 * could load, so the checks run in-process there. Failures are counted in /metrics.
 */
import { Counter } from 'prom-client';
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

export function startPool(metrics: Metrics, logger: Logger): WorkerPool {
  const failures = new Counter({
    name: 'darwaza_worker_failures_total',
    help: 'Pool workers that crashed or hung and were replaced (their messages were refused, not accepted)',
    labelNames: ['reason'],
    registers: [metrics.registry],
  });
  for (const reason of ['crash', 'hang']) failures.inc({ reason }, 0);
  const env = process.env.DARWAZA_POOL_SIZE;
  const size = inSingleBinary() ? 0 : env !== undefined && /^\d{1,3}$/.test(env) ? Number(env) : undefined;
  return new WorkerPool({
    ...(size !== undefined ? { size } : {}),
    onFailure: (reason) => {
      failures.inc({ reason });
      logger.error({ reason }, 'a pool worker failed and was replaced; the messages it held were refused');
    },
  });
}
