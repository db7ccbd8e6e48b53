/** Stored rows ↔ the values the port hands out (states, lanes, times). */
import { LANE_ORDER, QueueWriteError, type CountRow, type ItemState, type ItemStatus, type Lane, type MessageStatus, type StoredState } from '../types.js';
import type { ChangedRow, ItemRow } from './statements.js';

/** Stored state + attempts → what the sender and operator see. */
export function publicState(state: StoredState, attempts: number): ItemState {
  switch (state) {
    case 'ready':
      return attempts > 0 ? 'retrying' : 'queued';
    case 'inflight':
      return 'delivering';
    default:
      return state;
  }
}

/** Public state → SQL condition on the stored columns (for list/filters). */
export function stateCondition(state: ItemState): string {
  switch (state) {
    case 'queued':
      return "state = 'ready' AND attempts = 0";
    case 'retrying':
      return "state = 'ready' AND attempts > 0";
    case 'delivering':
      return "state = 'inflight'";
    case 'delivered':
    case 'dead':
    case 'withdrawn':
    case 'purged':
      return `state = '${state}'`;
    default:
      throw new QueueWriteError(`unknown state: ${String(state)}`);
  }
}

export function laneName(lane: number): Lane {
  return lane === LANE_ORDER.emergency ? 'emergency' : 'normal';
}

/** The patient token for an audit entry about this row (as received/decided/queued carry it). */
export const tokenOf = (r: ChangedRow): { patientToken?: string } => {
  const t = (JSON.parse(r.patient_tokens) as string[])[0];
  return t ? { patientToken: t } : {};
};

export const toBuffer = (u8: Uint8Array): Buffer =>
  Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);

const iso = (ms: number | null | undefined): string | undefined =>
  ms === null || ms === undefined ? undefined : new Date(ms).toISOString();

export function toItemStatus(r: ItemRow): ItemStatus {
  const state = publicState(r.state, r.attempts);
  return {
    id: r.seq,
    messageId: r.message_id,
    destination: r.destination,
    lane: laneName(r.lane),
    state,
    attempts: r.attempts,
    ...(r.last_error ? { lastError: r.last_error } : {}),
    ...(r.last_status !== null ? { lastStatus: r.last_status } : {}),
    enqueuedAt: iso(r.enqueued_at)!,
    updatedAt: iso(r.updated_at)!,
    ...(state === 'retrying' ? { nextAttemptAt: iso(r.next_attempt_at) } : {}),
    ...(r.delivered_at !== null ? { deliveredAt: iso(r.delivered_at) } : {}),
    payloadBytes: r.payload_bytes,
  };
}

/** A queue_messages row as both stores read it. */
export interface MessageRow {
  id: string;
  received_at: string;
  source: string;
  purpose: string;
  format: string;
  outcomes: string;
}

/** One message and its rows, as the port answers it. */
export function toMessageStatus(m: MessageRow, items: readonly ItemRow[]): MessageStatus {
  let outcomes: unknown;
  try {
    outcomes = JSON.parse(m.outcomes);
  } catch {
    outcomes = m.outcomes;
  }
  return { id: m.id, receivedAt: m.received_at, source: m.source, purpose: m.purpose, format: m.format, outcomes, destinations: items.map(toItemStatus) };
}

/** A count row per (destination, stored state), with how many of the ready ones were retried. */
export interface StoredCountRow {
  destination: string;
  state: StoredState;
  n: number;
  retried_n: number | null;
  bytes: number | null;
  retried_bytes: number | null;
}

/** Stored counts as the port reports them: ready rows split into queued and retrying. */
export function toCountRows(rows: readonly StoredCountRow[]): CountRow[] {
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
