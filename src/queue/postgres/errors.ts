/**
 * PostgreSQL errors → the queue's errors, quoting no row value. A database that cannot be
 * reached (down, restarting, connection lost) is a StoreUnavailableError: a QuotaExceededError,
 * so ingress answers 503 + Retry-After (MLLP: AR) and the sender retries.
 */
import { DuplicateIdempotencyKeyError, QueueWriteError, QuotaExceededError } from '../types.js';
import { UNAVAILABLE_RETRY_AFTER_S } from './options.js';

export class StoreUnavailableError extends QuotaExceededError {
  override name = 'StoreUnavailableError';
  constructor(readonly code: string) {
    super('the queue database is unavailable', UNAVAILABLE_RETRY_AFTER_S);
  }
}

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);
// admin/crash shutdown, cannot connect now, too many connections, read-only standby
const PG_CODES = new Set(['57P01', '57P02', '57P03', '53300', '25006']);

/** True when the error means the database could not be reached or went away (retry later). */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (NET_CODES.has(code) || PG_CODES.has(code) || code.startsWith('08')) return true;
  const msg = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection error|timeout exceeded when trying to connect|Client was closed|Cannot use a pool after calling end/i.test(msg);
}

/** Any error of a queue operation → one that names the kind, never a value. */
export function mapPgError(err: unknown): Error {
  if (err instanceof QueueWriteError || err instanceof DuplicateIdempotencyKeyError || err instanceof QuotaExceededError) return err;
  // The audit log refusing an event names the field, never its value: kept as it is.
  if (err instanceof Error && err.name === 'AuditEventError') return err;
  const code = String((err as { code?: unknown })?.code ?? '');
  if (isUnavailable(err)) return new StoreUnavailableError(code || 'connection');
  if (code === '53100') return new QuotaExceededError('the disk holding the queue database is full', 30);
  if (code === '23505') return new QueueWriteError('message id is already queued');
  return new Error(`queue database operation failed (${code || (err as Error)?.name || 'error'})`);
}
