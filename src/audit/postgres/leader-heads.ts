/**
 * Signed tree heads for a log shared by several gateways: only the node holding the leader
 * lock (LeaderElection, src/queue/postgres/leader.ts) signs, so the pair produces one series
 * of heads. Every `everyMs` the leader builds the tree and signs when the log grew; a node
 * that becomes leader signs at its next check (`checkMs`) (covering entries its predecessor left unsigned when it
 * died). Failures go to onError and are retried at the next tick.
 */
import type { SignedTreeHead } from '../heads.js';
import type { PostgresAuditLog } from './log.js';

export interface LeaderTreeHeadOptions {
  log: Pick<PostgresAuditLog, 'size' | 'latestHead' | 'signTreeHead' | 'build'>;
  /** Anything with isLeader(): a LeaderElection. */
  leader: { isLeader(): boolean };
  /** How often the leader looks for new entries (default 60 s, as the SQLite gateway's cron). */
  everyMs?: number;
  /** How often to look at the leadership (a new leader signs at once). Default 1 s. */
  checkMs?: number;
  onSigned?: (head: SignedTreeHead) => void;
  onError?: (err: unknown) => void;
}

export interface LeaderTreeHeads {
  /** Signs now if this node leads and the log grew; returns the head signed, if any. */
  tick(): Promise<SignedTreeHead | null>;
  stop(): Promise<void>;
}

export function scheduleLeaderTreeHeads(opts: LeaderTreeHeadOptions): LeaderTreeHeads {
  const { log, leader } = opts;
  const everyMs = opts.everyMs ?? 60_000;
  let running: Promise<SignedTreeHead | null> | undefined;
  let stopped = false;
  let wasLeader = false;
  let lastTry = 0;
  /** force: sign now if grown (an explicit tick); otherwise only when newly elected or everyMs passed. */
  const once = async (force: boolean): Promise<SignedTreeHead | null> => {
    const leads = leader.isLeader();
    const justElected = leads && !wasLeader;
    wasLeader = leads;
    if (!leads || stopped) return null;
    if (!force && !justElected && Date.now() - lastTry < everyMs) return null;
    lastTry = Date.now();
    try {
      await log.build();
      if ((await log.size()) <= ((await log.latestHead())?.treeSize ?? 0)) return null;
      const head = await log.signTreeHead();
      opts.onSigned?.(head);
      return head;
    } catch (err) {
      wasLeader = false; // retried at the next check, as if newly elected
      opts.onError?.(err);
      return null;
    }
  };
  const run = (force: boolean): Promise<SignedTreeHead | null> => {
    if (!running) running = once(force).finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void run(false), Math.min(opts.checkMs ?? 1_000, everyMs));
  timer.unref();
  return {
    tick: () => run(true),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
