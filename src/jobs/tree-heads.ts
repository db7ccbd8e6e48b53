/**
 * Signs audit tree heads on a schedule: a node-cron in-process task (default every
 * minute), a cheap check every `checkMs` that signs once `everyEntries` new entries
 * arrived since the last head, one at start (covering entries left unsigned by a crash),
 * and a last head on stop() (shutdown). A head is only signed when the log grew since
 * the last one, so an idle gateway adds nothing.
 */
import cron from 'node-cron';

/** The part of AuditLog this job uses. */
export interface TreeHeadLog {
  size(): number;
  latestHead(): { treeSize: number } | null;
  signTreeHead(): unknown;
}

export interface TreeHeadScheduleOptions {
  log: TreeHeadLog;
  /** Cron expression (node-cron, seconds field optional). */
  cron?: string;
  /** Sign as soon as this many entries are not yet under a head (0 = off). */
  everyEntries?: number;
  /** How often to look at the entry count for everyEntries. */
  checkMs?: number;
  /** Told about a failed signing (never thrown into the timer). */
  onError?: (err: unknown) => void;
}

export const DEFAULT_TREE_HEAD_CRON = '* * * * *';
export const DEFAULT_TREE_HEAD_EVERY_ENTRIES = 10_000;
export const DEFAULT_TREE_HEAD_CHECK_MS = 1_000;

export interface TreeHeadSchedule {
  /** Signs now if the log grew; returns whether it signed. */
  signIfGrown(): boolean;
  /** Stops the timers and signs a final head if the log grew. */
  stop(): void;
}

export function scheduleTreeHeads(opts: TreeHeadScheduleOptions): TreeHeadSchedule {
  const { log } = opts;
  const expression = opts.cron ?? DEFAULT_TREE_HEAD_CRON;
  if (!cron.validate(expression)) throw new Error(`audit.treeHeadCron: "${expression}" is not a valid cron expression`);
  const everyEntries = opts.everyEntries ?? DEFAULT_TREE_HEAD_EVERY_ENTRIES;
  if (!Number.isSafeInteger(everyEntries) || everyEntries < 0) {
    throw new Error('audit.treeHeadEveryEntries must be a whole number ≥ 0');
  }
  const onError = opts.onError ?? (() => {});
  const unsigned = () => log.size() - (log.latestHead()?.treeSize ?? 0);
  const signIfGrown = (): boolean => {
    try {
      if (unsigned() <= 0) return false;
      log.signTreeHead();
      return true;
    } catch (err) {
      onError(err);
      return false;
    }
  };
  const task = cron.schedule(expression, () => {
    signIfGrown();
  }, { name: 'audit-tree-heads', noOverlap: true });
  const timer =
    everyEntries > 0
      ? setInterval(() => {
          try {
            if (unsigned() >= everyEntries) signIfGrown();
          } catch (err) {
            onError(err);
          }
        }, opts.checkMs ?? DEFAULT_TREE_HEAD_CHECK_MS)
      : undefined;
  timer?.unref();
  signIfGrown(); // entries written before a crash get their head now
  let stopped = false;
  return {
    signIfGrown,
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      void task.destroy();
      signIfGrown();
    },
  };
}
