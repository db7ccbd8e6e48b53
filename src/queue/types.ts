/**
 * The queue's values: what the pipeline writes, what the dispatcher claims,
 * what GET /messages/{id} and the CLI read. No PHI in any text field except the
 * payload bytes (sealed envelopes, encrypted at rest by the PayloadCipher).
 */
import type { AuditEvent } from '../model/index.js';

export type Lane = 'emergency' | 'normal';

/** Lanes as stored: a smaller number is claimed first. */
export const LANE_ORDER = { emergency: 0, normal: 1 } as const;

export interface NewQueueItem {
  messageId: string;
  destination: string;
  /** emergency (ETREAT) is claimed before normal, whatever the enqueue order. */
  lane: Lane;
  /** The envelope bytes to POST (already sealed by the pipeline). */
  payload: Uint8Array;
  contentType: string;
  /** Scope for the PayloadCipher (e.g. the day 'd:2026-11-26' or a patient token). */
  cipherScope: string;
  /** Pseudonymous patient tokens (no PHI) for the consent re-check and per-patient withdrawal. */
  patientTokens: string[];
  /** Opaque non-PHI JSON the pipeline needs at send time (purpose, categories, decision refs). */
  context: string;
}

export interface MessageRecord {
  id: string;
  /** ISO-8601 instant. */
  receivedAt: string;
  source: string;
  purpose: string;
  format: string;
  /** JSON of per-destination outcomes (decision + reasons), no PHI. */
  outcomes: string;
  idempotencyKey?: string;
}

export interface AcceptWrite {
  message: MessageRecord;
  items: NewQueueItem[];
  /** Audit events that commit with the message (e.g. 'received', 'decided', 'queued'). */
  audit: AuditEvent[];
  /**
   * Stored so that a retried request with the same Idempotency-Key gets the first answer. The key is
   * already scoped by the pipeline (source, protocol, key); requestSha256 binds it to the request.
   */
  idempotency?: { key: string; response: string; requestSha256?: string };
}

/** What an earlier request with an idempotency key got, and the hash of that request. */
export interface IdempotentAnswer {
  response: string;
  requestSha256?: string;
}

/** Per-destination state as the sender and the operator see it. */
export const ITEM_STATES = ['queued', 'delivering', 'retrying', 'delivered', 'dead', 'withdrawn', 'purged'] as const;
export type ItemState = (typeof ITEM_STATES)[number];

/** Row states as stored (queued/retrying are both 'ready', told apart by attempts). */
export type StoredState = 'ready' | 'inflight' | 'delivered' | 'dead' | 'withdrawn' | 'purged';

export interface ItemStatus {
  /** Row id (enqueue order). */
  id: number;
  messageId: string;
  destination: string;
  lane: Lane;
  state: ItemState;
  attempts: number;
  lastError?: string;
  lastStatus?: number;
  enqueuedAt: string;
  updatedAt: string;
  nextAttemptAt?: string;
  deliveredAt?: string;
  payloadBytes: number;
}

export interface MessageStatus {
  id: string;
  receivedAt: string;
  source: string;
  purpose: string;
  format: string;
  /** The per-destination outcomes the pipeline stored (parsed JSON). */
  outcomes: unknown;
  destinations: ItemStatus[];
}

/** One row handed to the dispatcher: payload already decrypted. */
export interface ClaimedItem {
  id: number;
  messageId: string;
  destination: string;
  lane: Lane;
  payload: Uint8Array;
  contentType: string;
  cipherScope: string;
  patientTokens: string[];
  context: string;
  /** The number of this attempt (1 for the first). */
  attempt: number;
  /** Epoch ms of enqueue (for max age and latency). */
  enqueuedAt: number;
}

/** What the dispatcher reports back, applied in one transaction per batch. */
export type Settlement =
  | { kind: 'delivered'; id: number; status?: number }
  | { kind: 'retry'; id: number; nextAttemptAt: number; error: string; status?: number }
  | { kind: 'dead'; id: number; reason: string; status?: number }
  | { kind: 'withdrawn'; id: number; reason: string; audit?: AuditEvent[] }
  /**
   * Claimed but never attempted (dispatcher stopping, a lane outside its time window): back to
   * ready, attempt not counted; with notBefore, not claimed again before that instant.
   */
  | { kind: 'release'; id: number; notBefore?: number };

export interface QueueObserver {
  committed?(batchSize: number, ms: number): void;
  delivered?(destination: string, latencyMs: number): void;
  retried?(destination: string): void;
  deadLettered?(destination: string): void;
  withdrawn?(destination: string): void;
}

export interface CountRow {
  destination: string;
  state: ItemState;
  count: number;
  bytes: number;
}

export interface ListFilter {
  state?: ItemState;
  destination?: string;
  limit?: number;
  /** Only rows with id greater than this (paging). */
  afterId?: number;
  /** Only rows with id smaller than this (paging newest first). */
  beforeId?: number;
  /** Newest rows first (the console's lists); default oldest first. */
  newestFirst?: boolean;
  /** Enqueued at or after / before these epoch ms. */
  since?: number;
  until?: number;
  /** Messages from this source (the sender's identity or claimed system). */
  source?: string;
  messageId?: string;
}

export interface RetryFilter {
  destination?: string;
  messageIds?: string[];
  /** The operator's reason, for the audit entry (fixed words, no PHI). */
  reason?: string;
}

export interface PurgeFilter {
  state: 'dead' | 'delivered';
  destination?: string;
  messageIds?: string[];
  /** The operator's reason, for the audit entry (fixed words, no PHI). */
  reason?: string;
  /** Called every few hundred rows (CLI progress). */
  onProgress?: (done: number, total: number) => void;
}

// Quota and duplicate-key errors carry their FHIR outcome (503 + Retry-After; replay), so they live with the outcomes.
export { QuotaExceededError, DuplicateIdempotencyKeyError } from '../fhir/index.js';

/** The write could not be stored (message id reused, bad field): names the field, never content. */
export class QueueWriteError extends Error {
  override name = 'QueueWriteError';
}
