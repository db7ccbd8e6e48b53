/**
 * The overview's figures: per destination counts, deliveries in the last hour and day,
 * breaker state, oldest waiting age and last error; appliance health; and the actions
 * that need a person. gatherOverview reads through the console port; summarize and
 * actionsOf are pure.
 */
import type { CountRow, DestinationDispatchState, ItemStatus } from '../queue/index.js';
import type { CertificateLine, ConsoleDeps } from './types.js';
import { plainAge, plainBreaker, plainBytes, plainError, plainTime } from './plain.js';

export const CERT_WARN_DAYS = 30;
export const QUOTA_WARN = 0.8;
/** Messages waiting longer than this while the link is up are an action. */
export const STUCK_MS = 15 * 60_000;

export interface DestinationRow {
  name: string;
  breaker?: string;
  queued: number;
  delivering: number;
  retrying: number;
  dead: number;
  deliveredHour: number;
  deliveredDay: number;
  /** Age of the oldest message still waiting (queued, delivering or retrying). */
  oldestMs?: number;
  /** Plain words for the newest failure (retrying or dead). */
  lastError?: string;
  /** The oldest dead letter: when it died and why. */
  firstDead?: { at: string; error?: string };
}

export interface LastVerify {
  at: string;
  ok: boolean;
  text: string;
}

export interface Health {
  heldBytes: number;
  quotaBytes: number;
  atQuota: boolean;
  certificates: CertificateLine[];
  policy: { id: string; version: string; sha256: string; signedBy?: string; rules: number };
  audit: { size: number; head?: { treeSize: number; timestamp: string }; lastVerify?: LastVerify };
}

export interface Action {
  tone: 'bad' | 'warn';
  text: string;
  href: string;
  link: string;
}

export interface Overview {
  at: string;
  destinations: DestinationRow[];
  health: Health;
  actions: Action[];
  recent: ItemStatus[];
}

const WAITING = ['queued', 'delivering', 'retrying'] as const;

/** Counts, dispatcher states and deliveries → one row per destination (configured ones first, then any with rows). */
export function summarize(
  names: readonly string[],
  counts: readonly CountRow[],
  states: readonly DestinationDispatchState[],
  hour: readonly { destination: string; count: number }[],
  day: readonly { destination: string; count: number }[],
): DestinationRow[] {
  const all = [...new Set([...names, ...counts.filter((c) => c.count > 0 && (c.state === 'dead' || (WAITING as readonly string[]).includes(c.state))).map((c) => c.destination)])];
  return all.map((name) => {
    const n = (state: string) => counts.filter((c) => c.destination === name && c.state === state).reduce((a, c) => a + c.count, 0);
    return {
      name,
      breaker: states.find((s) => s.destination === name)?.breaker,
      queued: n('queued'),
      delivering: n('delivering'),
      retrying: n('retrying'),
      dead: n('dead'),
      deliveredHour: hour.find((h) => h.destination === name)?.count ?? 0,
      deliveredDay: day.find((h) => h.destination === name)?.count ?? 0,
    };
  });
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What needs a person, worst first. */
export function actionsOf(o: Omit<Overview, 'actions' | 'recent'>, now: Date): Action[] {
  const out: Action[] = [];
  for (const d of o.destinations) {
    const q = encodeURIComponent(d.name);
    if (d.dead > 0) {
      out.push({
        tone: 'bad',
        text: `${plural(d.dead, 'dead letter')} to ${d.name}${d.firstDead ? ` since ${plainTime(d.firstDead.at, now)}` : ''}${d.firstDead?.error ? `: ${d.firstDead.error}` : ''}`,
        href: `/console/messages?state=dead&destination=${q}`,
        link: 'inspect',
      });
    }
    if (d.breaker === 'open') {
      out.push({
        tone: 'bad',
        text: `The link to ${d.name} is down${d.lastError ? `: ${d.lastError}` : ''}. ${d.queued + d.retrying === 1 ? '1 message waits' : `${d.queued + d.retrying} messages wait`} and will be sent when it is back`,
        href: `/console/messages?state=retrying&destination=${q}`,
        link: 'see what waits',
      });
    } else if (d.oldestMs !== undefined && d.oldestMs > STUCK_MS) {
      out.push({
        tone: 'warn',
        text: `Messages to ${d.name} have waited ${plainAge(d.oldestMs)}${d.lastError ? `: ${d.lastError}` : ''}`,
        href: `/console/messages?state=retrying&destination=${q}`,
        link: 'see what waits',
      });
    }
  }
  const h = o.health;
  if (h.atQuota || h.heldBytes > h.quotaBytes * QUOTA_WARN) {
    out.push({
      tone: h.atQuota ? 'bad' : 'warn',
      text: `The queue holds ${plainBytes(h.heldBytes)} of its ${plainBytes(h.quotaBytes)} quota${h.atQuota ? ': new messages are refused' : ''}. Restore the uplink, or raise limits.queueQuotaBytes`,
      href: '/console/messages?state=retrying',
      link: 'see what waits',
    });
  }
  for (const c of h.certificates) {
    if (c.revoked) continue;
    if (c.daysLeft < 0) out.push({ tone: 'bad', text: `Certificate ${c.name} has expired. Renew it with darwaza certs`, href: '/console/#health', link: 'health' });
    else if (c.daysLeft <= CERT_WARN_DAYS) out.push({ tone: 'warn', text: `Certificate ${c.name} expires in ${plural(c.daysLeft, 'day')}. Renew it with darwaza certs`, href: '/console/#health', link: 'health' });
  }
  if (!h.policy.signedBy) out.push({ tone: 'warn', text: 'The policy in force is not signed. Sign it with darwaza policy sign', href: '/console/policy', link: 'policy' });
  if (h.audit.lastVerify && !h.audit.lastVerify.ok) out.push({ tone: 'bad', text: `The audit log failed verification: ${h.audit.lastVerify.text}`, href: '/console/audit', link: 'audit' });
  return out.sort((a, b) => Number(a.tone === 'warn') - Number(b.tone === 'warn'));
}

/** Reads everything the overview shows, through the port. */
export async function gatherOverview(deps: ConsoleDeps, lastVerify: LastVerify | undefined): Promise<Overview> {
  const now = (deps.clock ?? (() => new Date()))();
  const [counts, hour, day] = await Promise.all([
    deps.queue.counts(),
    deps.queue.deliveredSince(now.getTime() - 3_600_000),
    deps.queue.deliveredSince(now.getTime() - 86_400_000),
  ]);
  const destinations = summarize(deps.destinations(), counts, deps.dispatch(), hour, day);
  for (const d of destinations) {
    // The oldest waiting row of each state (lists are in enqueue order), and the newest failure.
    const firsts = await Promise.all(WAITING.map((state) => (d[state] > 0 ? deps.queue.list({ state, destination: d.name, limit: 1 }) : Promise.resolve([]))));
    const oldest = Math.min(...firsts.flat().map((r) => Date.parse(r.enqueuedAt)));
    if (Number.isFinite(oldest)) d.oldestMs = Math.max(0, now.getTime() - oldest);
    if (d.dead > 0) {
      const [first] = await deps.queue.list({ state: 'dead', destination: d.name, limit: 1 });
      if (first) d.firstDead = { at: first.updatedAt, error: plainError(first.lastError, first.lastStatus) };
    }
    const failing = [...(d.retrying > 0 ? await deps.queue.list({ state: 'retrying', destination: d.name, limit: 1, newestFirst: true }) : [])];
    const f = failing[0];
    d.lastError = f ? plainError(f.lastError, f.lastStatus) : d.firstDead?.error;
  }
  const policy = deps.policy();
  const [head, auditSize] = await Promise.all([deps.audit.latestHead(), deps.audit.size()]);
  const health: Health = {
    heldBytes: deps.queue.heldPayloadBytes(),
    quotaBytes: deps.quotaBytes,
    atQuota: deps.queue.atQuota(),
    certificates: safe(() => deps.certificates(), []),
    policy: { id: policy.ref.id, version: policy.ref.version, sha256: policy.ref.sha256, signedBy: policy.signedBy, rules: policy.rules.length },
    audit: { size: auditSize, ...(head ? { head: { treeSize: head.treeSize, timestamp: new Date(head.timestamp).toISOString() } } : {}), ...(lastVerify ? { lastVerify } : {}) },
  };
  const base = { at: now.toISOString(), destinations, health };
  const recent = await deps.queue.list({ limit: 10, newestFirst: true });
  return { ...base, actions: actionsOf(base, now), recent };
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
