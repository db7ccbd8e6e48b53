/**
 * Gauges the alert rules need, read on each scrape through the store port and the dispatcher:
 * the oldest waiting message per destination, breaker state, disk free and the queue's quota.
 */
import { statfsSync } from 'node:fs';
import type { Metrics } from '../admin/index.js';
import type { QueueStore } from '../queue/index.js';
import { deadLettersExpiring } from '../jobs/retention.js';

export interface GaugeSources {
  metrics: Metrics;
  store: Pick<QueueStore, 'list' | 'heldPayloadBytes'>;
  destinations: readonly string[];
  breakerState: (destination: string) => string | undefined;
  dataDir: string;
  quotaBytes: number;
  clock: () => Date;
  /** Dead-letter retention and its warning window (ms): sets darwaza_dead_letters_expiring. */
  deadLetters?: { deadLetterMs: number; warnMs: number };
}

const BREAKER_VALUE: Record<string, number> = { closed: 0, 'half-open': 0.5, open: 1 };

export async function refreshOpsGauges(s: GaugeSources): Promise<void> {
  const { metrics } = s;
  const now = s.clock().getTime();
  metrics.queueOldestAge.reset();
  metrics.breakerOpen.reset();
  for (const d of s.destinations) {
    // Rows come in enqueue order: the first of each waiting state is its oldest.
    const firsts = await Promise.all((['queued', 'retrying', 'delivering'] as const).map((state) => s.store.list({ state, destination: d, limit: 1 })));
    const oldest = Math.min(...firsts.flat().map((r) => Date.parse(r.enqueuedAt)));
    metrics.queueOldestAge.set({ destination: d }, Number.isFinite(oldest) ? Math.max(0, (now - oldest) / 1000) : 0);
    metrics.breakerOpen.set({ destination: d }, BREAKER_VALUE[s.breakerState(d) ?? 'closed'] ?? 0);
  }
  try {
    const fs = statfsSync(s.dataDir);
    metrics.diskFreeBytes.set(fs.bavail * fs.bsize);
    metrics.diskSizeBytes.set(fs.blocks * fs.bsize);
  } catch {
    /* the data folder is gone: the disk alert's absent() catches it */
  }
  if (s.deadLetters) {
    metrics.deadLettersExpiring.reset();
    const expiring = await deadLettersExpiring(s.store, { ...s.deadLetters, now, destinations: s.destinations });
    for (const d of s.destinations) metrics.deadLettersExpiring.set({ destination: d }, expiring.find((e) => e.destination === d)?.count ?? 0);
  }
  metrics.queueHeldBytes.set(s.store.heldPayloadBytes());
  metrics.queueQuotaBytes.set(s.quotaBytes);
}
