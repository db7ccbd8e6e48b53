/** Status reads: idempotent answers, one message with its rows, counts per destination and state. */
import type { CountRow, IdempotentAnswer, MessageStatus, StoredState } from '../types.js';
import type { StoreContext } from './context.js';
import { publicState, toItemStatus } from './rows.js';
import type { ItemRow } from './statements.js';

export function findIdempotent(c: StoreContext, key: string): IdempotentAnswer | undefined {
  const row = c.s.getIdem.get(key) as { response: string; request_sha256: string | null } | undefined;
  return row ? { response: row.response, ...(row.request_sha256 ? { requestSha256: row.request_sha256 } : {}) } : undefined;
}

export function getMessage(c: StoreContext, id: string): MessageStatus | undefined {
  const m = c.s.selMessage.get(id) as
    | { id: string; received_at: string; source: string; purpose: string; format: string; outcomes: string }
    | undefined;
  if (!m) return undefined;
  let outcomes: unknown;
  try {
    outcomes = JSON.parse(m.outcomes);
  } catch {
    outcomes = m.outcomes;
  }
  return {
    id: m.id,
    receivedAt: m.received_at,
    source: m.source,
    purpose: m.purpose,
    format: m.format,
    outcomes,
    destinations: (c.s.selItemsOf.all(id) as ItemRow[]).map(toItemStatus),
  };
}

/** Counts (and bytes held) per destination and state: an index-only scan, fine for a metrics scrape. */
export function counts(c: StoreContext): CountRow[] {
  const rows = c.s.counts.all() as {
    destination: string;
    state: StoredState;
    n: number;
    retried_n: number;
    bytes: number | null;
    retried_bytes: number | null;
  }[];
  const out: CountRow[] = [];
  for (const r of rows) {
    if (r.state !== 'ready') {
      out.push({ destination: r.destination, state: publicState(r.state, 0), count: r.n, bytes: r.bytes ?? 0 });
      continue;
    }
    const retrying = r.retried_n ?? 0;
    const retryingBytes = r.retried_bytes ?? 0;
    if (r.n > retrying) out.push({ destination: r.destination, state: 'queued', count: r.n - retrying, bytes: (r.bytes ?? 0) - retryingBytes });
    if (retrying > 0) out.push({ destination: r.destination, state: 'retrying', count: retrying, bytes: retryingBytes });
  }
  return out;
}
