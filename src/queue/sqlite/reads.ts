/** Status reads: idempotent answers, one message with its rows, counts per destination and state. */
import type { CountRow, IdempotentAnswer, MessageStatus } from '../types.js';
import type { StoreContext } from './context.js';
import { toCountRows, toMessageStatus, type MessageRow, type StoredCountRow } from './rows.js';
import type { ItemRow } from './statements.js';

export function findIdempotent(c: StoreContext, key: string): IdempotentAnswer | undefined {
  const row = c.s.getIdem.get(key) as { response: string; request_sha256: string | null } | undefined;
  return row ? { response: row.response, ...(row.request_sha256 ? { requestSha256: row.request_sha256 } : {}) } : undefined;
}

export function getMessage(c: StoreContext, id: string): MessageStatus | undefined {
  const m = c.s.selMessage.get(id) as MessageRow | undefined;
  return m ? toMessageStatus(m, c.s.selItemsOf.all(id) as ItemRow[]) : undefined;
}

/** Counts (and bytes held) per destination and state: an index-only scan, fine for a metrics scrape. */
export function counts(c: StoreContext): CountRow[] {
  return toCountRows(c.s.counts.all() as StoredCountRow[]);
}
