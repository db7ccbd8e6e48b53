/**
 * Retention: finished deliveries (delivered, withdrawn, purged rows — their payloads
 * are already gone), messages left without rows and old idempotency keys are deleted
 * once older than their windows; dead letters expire (payload purged, audited) after
 * their own window; cipher scopes no longer used are shredded. Runs in-process on a
 * node-cron schedule (forked background tasks cannot work inside the single binary).
 * deadLettersExpiring() is the warning beforehand (metrics, console).
 */
import cron from 'node-cron';
import type { OperatorStore, RetentionStore } from '../queue/index.js';
import type { Db } from '../store/index.js';
import { auditEvents, type AuditLog } from '../audit/index.js';
import { WITHDRAWN_STATUSES } from '../consent/index.js';

export type { RetentionStore };

export const DEFAULT_RETENTION_CRON = '*/10 * * * *';
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;

export interface RetentionResult {
  items: number;
  messages: number;
  scopes: number;
  /** Dead letters whose payload expired in this run. */
  deadExpired: number;
  /** ISO instant of the run. */
  at: string;
}

export interface RetentionWindows {
  /** Dead letters unchanged for longer than this are purged (undefined: kept). */
  deadLetterMs?: number;
  /** Idempotency keys older than this are forgotten (default: the delivered window). */
  idempotencyMs?: number;
}

/** One retention pass (tests call this directly; `now` is only recorded, the store uses its own clock). */
export async function runRetention(store: RetentionStore, now: number, retentionMs: number, windows: RetentionWindows = {}): Promise<RetentionResult> {
  if (!(retentionMs > 0)) throw new Error('retentionMs must be a positive number');
  if (windows.deadLetterMs !== undefined && !(windows.deadLetterMs > 0)) throw new Error('deadLetterMs must be a positive number');
  // Dead letters first: the rows they leave behind (purged) then age out with the rest.
  const deadExpired = windows.deadLetterMs !== undefined && store.expireDead ? await store.expireDead(windows.deadLetterMs) : 0;
  const r = await store.purgeDelivered(retentionMs, windows.idempotencyMs !== undefined ? { idempotencyMs: windows.idempotencyMs } : undefined);
  return { ...r, deadExpired, at: new Date(now).toISOString() };
}

export interface ExpiringDeadLetters {
  destination: string;
  /** Dead letters that expire within the warning window. */
  count: number;
  /** When the first of them expires (ISO). */
  firstExpiresAt: string;
}

/**
 * Dead letters that retention removes within `warnMs`, per destination (through the store
 * port, so any store answers it). For the console's "expiring soon" and the metric.
 */
export async function deadLettersExpiring(
  store: Pick<OperatorStore, 'list'>,
  opts: { deadLetterMs: number; warnMs: number; now: number; destinations: readonly string[]; max?: number },
): Promise<ExpiringDeadLetters[]> {
  const out: ExpiringDeadLetters[] = [];
  const max = opts.max ?? 100_000;
  for (const destination of opts.destinations) {
    let count = 0;
    let first = Infinity;
    let afterId: number | undefined;
    for (let seen = 0; seen < max; ) {
      const page = await store.list({ state: 'dead', destination, limit: 1000, afterId });
      if (page.length === 0) break;
      for (const row of page) {
        const expiresAt = Date.parse(row.updatedAt) + opts.deadLetterMs;
        if (expiresAt - opts.now <= opts.warnMs) {
          count++;
          first = Math.min(first, expiresAt);
        }
      }
      seen += page.length;
      afterId = page[page.length - 1]!.id;
      if (page.length < 1000) break;
    }
    if (count > 0) out.push({ destination, count, firstExpiresAt: new Date(first).toISOString() });
  }
  return out;
}

export interface RetentionSchedule {
  stop(): void;
}

export function scheduleRetention(opts: {
  store: RetentionStore;
  retentionMs: number;
  windows?: RetentionWindows;
  cron?: string;
  clock?: () => number;
  onRun?: (result: RetentionResult) => void;
  onError?: (err: Error) => void;
  /** Further passes on the same schedule (withdrawn consents past their hold). */
  also?: Array<() => void>;
  /** Runs only while this says so (on a pair: while this node leads). */
  when?: () => boolean;
}): RetentionSchedule {
  const expression = opts.cron ?? DEFAULT_RETENTION_CRON;
  if (!cron.validate(expression)) throw new Error(`retention cron expression is not valid: ${expression}`);
  if (!(opts.retentionMs > 0)) throw new Error('retentionMs must be a positive number');
  const clock = opts.clock ?? Date.now;
  const task = cron.schedule(
    expression,
    async () => {
      if (opts.when && !opts.when()) return;
      try {
        // (not `onRun?.(await runRetention(...))`: optional call would skip evaluating its argument)
        const result = await runRetention(opts.store, clock(), opts.retentionMs, opts.windows);
        for (const pass of opts.also ?? []) pass();
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

/**
 * Withdrawn consents past their legal hold: every version of a consent whose current version
 * is withdrawn (WITHDRAWN_STATUSES) and older than `holdMs` is deleted with its token index, one
 * audit entry each (the consent id, never its content). While in hold a withdrawn consent is
 * the record of what the patient had permitted and when that ended.
 * The registry has no delete of its own, so the rows go here by consent id.
 */
export function purgeWithdrawnConsents(db: Db, opts: { holdMs: number; now: number; audit: Pick<AuditLog, 'append'> }): number {
  if (!(opts.holdMs > 0)) throw new Error('holdMs must be a positive number');
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'consent_current'").get()) return 0;
  const cutoff = new Date(opts.now - opts.holdMs).toISOString();
  const ids = db
    .prepare(`SELECT id FROM consent_current WHERE status IN (${WITHDRAWN_STATUSES.map(() => '?').join(',')}) AND received_at < ?`)
    .pluck()
    .all(...WITHDRAWN_STATUSES, cutoff) as string[];
  const days = Math.round(opts.holdMs / 86_400_000);
  db.transaction(() => {
    for (const id of ids) {
      for (const table of ['consent_version', 'consent_token', 'consent_current']) db.prepare(`DELETE FROM ${table} WHERE id = ?`).run(id);
      opts.audit.append([auditEvents.purged({ time: opts.now, consentId: id, reason: `retention: withdrawn consent past its legal hold of ${days} days`, actor: 'retention' })]);
    }
  })();
  return ids.length;
}
