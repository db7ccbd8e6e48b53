/**
 * FHIR OperationOutcomes as data (the idea of medplum's outcomes): named builders, one
 * error class that carries an outcome, and ONE table from an outcome's kind to its HTTP
 * status and its HL7 v2 acknowledgement code, so HTTP and MLLP answer alike.
 * Messages never contain PHI: they name elements, not values.
 */
import type { FhirResource } from '../model/index.js';

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'invariant'
  | 'required'
  | 'value'
  | 'not-supported'
  | 'not-found'
  | 'too-long'
  | 'too-costly'
  | 'forbidden'
  | 'processing'
  | 'transient'
  | 'throttled'
  | 'exception'
  | 'duplicate'
  | 'informational'
  | 'security'
  | 'business-rule'
  | 'conflict';

export interface OperationOutcomeIssue {
  severity: IssueSeverity;
  code: IssueCode;
  diagnostics?: string;
  details?: { text: string };
  expression?: string[];
}

export interface OperationOutcome extends FhirResource {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** HL7 v2 acknowledgement in original mode; enhanced mode turns AE/AR into CE/CR (hl7v2's planAcks). */
export type OutcomeAck = 'AA' | 'AE' | 'AR';

/**
 * What an outcome means for the sender. AR: refused for a reason that is not an error in
 * the content (unsupported, too large, refused by policy, no room now); AE: the content or
 * our processing failed; AA: the message is already held (a duplicate).
 */
const KINDS = {
  'bad-request': { status: 400, ack: 'AE' },
  forbidden: { status: 403, ack: 'AR' },
  'not-found': { status: 404, ack: 'AE' },
  'method-not-allowed': { status: 405, ack: 'AR' },
  'not-acceptable': { status: 406, ack: 'AR' },
  conflict: { status: 409, ack: 'AE' },
  duplicate: { status: 409, ack: 'AA' },
  'too-large': { status: 413, ack: 'AR' },
  'unsupported-media-type': { status: 415, ack: 'AR' },
  unprocessable: { status: 422, ack: 'AR' },
  'server-error': { status: 500, ack: 'AE' },
  quota: { status: 503, ack: 'AR' },
} as const satisfies Record<string, { status: number; ack: OutcomeAck }>;

export type OutcomeKind = keyof typeof KINDS;
export const OUTCOME_KINDS = Object.keys(KINDS) as OutcomeKind[];

/** An OperationOutcome with the kind that decides how each transport answers it. */
export interface Outcome {
  kind: OutcomeKind;
  outcome: OperationOutcome;
  /** Seconds the sender should wait (HTTP Retry-After); only where waiting helps. */
  retryAfter?: number;
}

/** The one status mapping. */
export function statusOf(o: Pick<Outcome, 'kind'>): number {
  return KINDS[o.kind].status;
}

/** The one acknowledgement mapping (original mode). */
export function ackCodeOf(o: Pick<Outcome, 'kind'>): OutcomeAck {
  return KINDS[o.kind].ack;
}

/** The issues' texts, joined: PHI-free by construction of the builders' callers. */
export function textOf(o: OperationOutcome): string {
  return o.issue.map((i) => i.details?.text ?? i.code).join('; ');
}

const make = (
  kind: OutcomeKind,
  code: IssueCode,
  text: string,
  expression?: string,
  severity: IssueSeverity = 'error',
): Outcome => ({
  kind,
  outcome: {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, details: { text }, ...(expression ? { expression: [expression] } : {}) }],
  },
});

export const badRequest = (text: string, expression?: string, code: IssueCode = 'invalid') => make('bad-request', code, text, expression);
export const structureError = (text: string, expression?: string) => make('bad-request', 'structure', text, expression);
export const notFound = (text = 'Not found') => make('not-found', 'not-found', text);
export const methodNotAllowed = (text: string) => make('method-not-allowed', 'not-supported', text);
export const notAcceptable = (text: string) => make('not-acceptable', 'not-supported', text);
export const tooLarge = (text: string) => make('too-large', 'too-long', text);
export const unsupportedMediaType = (text: string) => make('unsupported-media-type', 'not-supported', text);
export const unprocessable = (text: string, expression?: string, code: IssueCode = 'processing') =>
  make('unprocessable', code, text, expression);
/** Several refusals at once (e.g. the entries of a transaction). */
export const unprocessableAll = (issues: OperationOutcomeIssue[]): Outcome => ({ kind: 'unprocessable', outcome: outcomeOf(issues) });
export const forbidden = (text: string) => make('forbidden', 'forbidden', text);
export const conflict = (text: string, expression?: string) => make('conflict', 'conflict', text, expression);
export const duplicate = (text: string) => make('duplicate', 'duplicate', text, undefined, 'information');
export const quotaExceeded = (retryAfter: number, text = 'The queue is at its disk quota; retry later'): Outcome => ({
  ...make('quota', 'transient', text),
  retryAfter,
});
export const serverError = (text = 'Internal error; see the gateway log for the error id', code: IssueCode = 'exception') =>
  make('server-error', code, text, undefined, 'fatal');

export const allOk = (text: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'information', code: 'informational', details: { text } }],
});

/** Combine several issues (e.g. batch entries) into one outcome. */
export function outcomeOf(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** The one error that carries an Outcome through the stack; match it with instanceof. */
export class OperationOutcomeError extends Error {
  override name = 'OperationOutcomeError';
  constructor(
    readonly result: Outcome,
    options?: { cause?: unknown },
  ) {
    super(textOf(result.outcome), options);
  }
  get kind(): OutcomeKind {
    return this.result.kind;
  }
  get status(): number {
    return statusOf(this.result);
  }
}

/** The store is at its quota (or the disk is nearly full): 503 + Retry-After, AR/CR. */
export class QuotaExceededError extends OperationOutcomeError {
  override name = 'QuotaExceededError';
  constructor(
    reason: string,
    readonly retryAfterSeconds = 30,
  ) {
    super(quotaExceeded(retryAfterSeconds, `${reason}; retry later`));
  }
}

/** Two concurrent requests carried one idempotency key: `response` is the first one's stored answer. */
export class DuplicateIdempotencyKeyError extends OperationOutcomeError {
  override name = 'DuplicateIdempotencyKeyError';
  constructor(
    readonly response: string,
    /** The SHA-256 of the request the key was first used with (absent for keys stored before it was kept). */
    readonly requestSha256?: string,
  ) {
    super(duplicate('a request with this Idempotency-Key was already accepted'));
  }
}

/**
 * Anything thrown → an Outcome. Unknown errors become a bare 500: their message is never
 * shown (it may carry PHI); the caller logs them under an error id.
 */
export function normalizeOperationOutcome(err: unknown): Outcome {
  if (err instanceof OperationOutcomeError) return err.result;
  return serverError();
}

/** True when the answer must carry an error id tied to a log line (a failure on our side). */
export function needsErrorId(o: Outcome): boolean {
  return o.kind === 'server-error';
}
