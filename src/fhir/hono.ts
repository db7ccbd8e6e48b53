/**
 * Outcomes over hono: one way to write an Outcome as a response, and the one onError
 * every app registers. A failure on our side answers a 500 that carries only an error id;
 * the error itself goes to `onServerError` (a PHI-free log line under the same id).
 */
import type { Context, ErrorHandler } from 'hono';
import { FHIR_JSON_TYPE } from './negotiate.js';
import { needsErrorId, normalizeOperationOutcome, serverError, statusOf, type Outcome } from './outcomes.js';

export function replyOutcome(c: Context, o: Outcome): Response {
  if (o.retryAfter !== undefined) c.header('Retry-After', String(o.retryAfter));
  return c.body(JSON.stringify(o.outcome), statusOf(o) as 400, { 'Content-Type': FHIR_JSON_TYPE });
}

export type ServerErrorObserver = (err: unknown, errorId: string) => void;

export function outcomeErrorHandler(onServerError?: ServerErrorObserver): ErrorHandler {
  return (err, c) => {
    const outcome = normalizeOperationOutcome(err);
    if (!needsErrorId(outcome)) return replyOutcome(c, outcome);
    const errorId = crypto.randomUUID();
    try {
      onServerError?.(err, errorId);
    } catch {
      /* a failing logger must not turn the answer into hono's plain-text 500 */
    }
    // A fresh outcome: the error's own one is never mutated, and nothing but the id goes out.
    const code = outcome.outcome.issue[0]?.code ?? 'exception';
    const answer = serverError(undefined, code);
    answer.outcome.issue[0].diagnostics = `error id ${errorId}`;
    return replyOutcome(c, answer);
  };
}
