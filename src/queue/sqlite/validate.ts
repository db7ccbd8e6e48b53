/** Checks of one write before it is queued, and SQLite errors mapped to errors that quote no row value. */
import { DuplicateIdempotencyKeyError, QueueWriteError, QuotaExceededError, type AcceptWrite } from '../types.js';
import { DEFAULT_QUOTA_RETRY_AFTER_S } from './options.js';

/** A field-naming check of one write: the ingress/pipeline bug shows up as a clear error. */
export function validateWrite(w: AcceptWrite): number {
  const m = w?.message;
  if (!m || typeof m !== 'object') throw new QueueWriteError('message is required');
  for (const f of ['id', 'receivedAt', 'source', 'purpose', 'format', 'outcomes'] as const) {
    if (typeof m[f] !== 'string' || (f === 'id' && m[f].length === 0)) {
      throw new QueueWriteError(`message.${f} must be a string`);
    }
  }
  if (!Array.isArray(w.items)) throw new QueueWriteError('items must be an array');
  if (!Array.isArray(w.audit)) throw new QueueWriteError('audit must be an array');
  let bytes = 0;
  w.items.forEach((it, i) => {
    if (it.messageId !== m.id) throw new QueueWriteError(`items[${i}].messageId must equal message.id`);
    if (typeof it.destination !== 'string' || !it.destination) throw new QueueWriteError(`items[${i}].destination must be a string`);
    if (it.lane !== 'emergency' && it.lane !== 'normal') throw new QueueWriteError(`items[${i}].lane must be emergency or normal`);
    if (!(it.payload instanceof Uint8Array)) throw new QueueWriteError(`items[${i}].payload must be bytes`);
    if (typeof it.contentType !== 'string') throw new QueueWriteError(`items[${i}].contentType must be a string`);
    if (typeof it.cipherScope !== 'string' || !it.cipherScope) throw new QueueWriteError(`items[${i}].cipherScope must be a string`);
    if (!Array.isArray(it.patientTokens) || it.patientTokens.some((t) => typeof t !== 'string')) {
      throw new QueueWriteError(`items[${i}].patientTokens must be an array of strings`);
    }
    if (typeof it.context !== 'string') throw new QueueWriteError(`items[${i}].context must be a string`);
    bytes += it.payload.byteLength;
  });
  if (w.idempotency && (typeof w.idempotency.key !== 'string' || typeof w.idempotency.response !== 'string')) {
    throw new QueueWriteError('idempotency.key and idempotency.response must be strings');
  }
  return bytes;
}

/** SQLite errors → errors that say what happened without any value from the row. */
export function mapSqliteError(err: unknown): Error {
  if (err instanceof QueueWriteError || err instanceof DuplicateIdempotencyKeyError || err instanceof QuotaExceededError) {
    return err;
  }
  const code = (err as { code?: string })?.code ?? '';
  if (code === 'SQLITE_FULL') return new QuotaExceededError('the disk holding the queue is full', DEFAULT_QUOTA_RETRY_AFTER_S);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new QueueWriteError('message id is already queued');
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') return new QueueWriteError('a destination appears twice for one message');
  return new Error(`queue write failed (${code || (err as Error)?.name || 'error'})`);
}
