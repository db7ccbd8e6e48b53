/**
 * What crosses the worker boundary: a task carries the body's bytes (its ArrayBuffer is
 * transferred, not copied) and a few scalars; the answer hands the bytes back with a
 * verdict. Errors cross as FHIR outcomes the checks built (element paths, never values)
 * or as a bare kind: no message text, stack or body content, so no PHI can ride along.
 */
import type { Outcome } from '../../fhir/index.js';

export interface InboundTask {
  kind: 'inbound';
  id: number;
  /** The request body; transferred to the worker and back. */
  bytes: ArrayBuffer;
  /** The resource type the URL names (undefined: POST /fhir, a Bundle). */
  pathType?: string;
  maxDepth: number;
  maxEntries: number;
}

/** Test-only tasks (honoured when the pool was started with testHooks): a worker that dies or hangs. */
export interface FaultTask {
  kind: 'crash' | 'hang';
  id: number;
}

export type Task = InboundTask | FaultTask;

export type Answer =
  | { id: number; ok: true; bytes: ArrayBuffer }
  /** The body was refused: the outcome the same checks build on the main thread. */
  | { id: number; ok: false; refusal: Outcome; bytes: ArrayBuffer }
  /** Something unexpected: no detail crosses, the caller answers 500. */
  | { id: number; ok: false; internal: true };

/** Marks the worker's startup message. */
export interface Ready {
  ready: true;
}

export const POOL_WORKER_FLAG = 'darwazaPoolWorker';
