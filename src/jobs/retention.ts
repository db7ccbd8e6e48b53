/**
 * Retention: finished deliveries (delivered, withdrawn, purged rows — their payloads
 * are already gone), messages left without rows and old idempotency keys are deleted
 * once older than the retention window; cipher scopes no longer used are shredded.
 * Runs in-process on a node-cron schedule (forked background tasks cannot work inside
 * the single binary).
 */
import cron from 'node-cron';
import type { RetentionStore } from '../queue/index.js';

export type { RetentionStore };

export const DEFAULT_RETENTION_CRON = '*/10 * * * *';
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;

export interface RetentionResult {
  items: number;
  messages: number;
  scopes: number;
  /** ISO instant of the run. */
  at: string;
}

/** One retention pass (tests call this directly; `now` is only recorded, the store uses its own clock). */
export async function runRetention(store: RetentionStore, now: number, retentionMs: number): Promise<RetentionResult> {
  if (!(retentionMs > 0)) throw new Error('retentionMs must be a positive number');
  const r = await store.purgeDelivered(retentionMs);
  return { ...r, at: new Date(now).toISOString() };
}

export interface RetentionSchedule {
  stop(): void;
}

export function scheduleRetention(opts: {
  store: RetentionStore;
  retentionMs: number;
  cron?: string;
  clock?: () => number;
  onRun?: (result: RetentionResult) => void;
  onError?: (err: Error) => void;
}): RetentionSchedule {
  const expression = opts.cron ?? DEFAULT_RETENTION_CRON;
  if (!cron.validate(expression)) throw new Error(`retention cron expression is not valid: ${expression}`);
  if (!(opts.retentionMs > 0)) throw new Error('retentionMs must be a positive number');
  const clock = opts.clock ?? Date.now;
  const task = cron.schedule(
    expression,
    async () => {
      try {
        // (not `onRun?.(await runRetention(...))`: optional call would skip evaluating its argument)
        const result = await runRetention(opts.store, clock(), opts.retentionMs);
        opts.onRun?.(result);
      } catch (err) {
        opts.onError?.(err as Error);
      }
    },
    { noOverlap: true },
  );
  return {
    stop() {
      void task.destroy();
    },
  };
}
