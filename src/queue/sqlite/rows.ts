/** Stored rows ↔ the values the port hands out (states, lanes, times). */
import { LANE_ORDER, QueueWriteError, type ItemState, type ItemStatus, type Lane, type StoredState } from '../types.js';
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
