/**
 * FHIR OperationOutcomes as data (after medplum's outcomes.ts): named builders, one
 * error class that carries an outcome, one status mapping. HTTP, MLLP and the CLI
 * all speak these. Messages never contain PHI: they name elements, not values.
 */
import type { FhirResource } from '../model/index.js';

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';
export type IssueCode =
  | 'invalid'
  | 'structure'
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

/** HTTP status carried alongside an outcome. */
export interface Outcome {
  status: number;
  outcome: OperationOutcome;
  /** Seconds, for 503/429 answers. */
  retryAfter?: number;
}

const make = (
  status: number,
  code: IssueCode,
  text: string,
  expression?: string,
  severity: IssueSeverity = 'error',
): Outcome => ({
  status,
  outcome: {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, details: { text }, ...(expression ? { expression: [expression] } : {}) }],
  },
});

export const badRequest = (text: string, expression?: string) => make(400, 'invalid', text, expression);
export const structureError = (text: string, expression?: string) => make(400, 'structure', text, expression);
export const notFound = (text = 'Not found') => make(404, 'not-found', text);
export const methodNotAllowed = (text: string) => make(405, 'not-supported', text);
export const tooLarge = (text: string) => make(413, 'too-long', text);
export const unsupportedMediaType = (text: string) => make(415, 'not-supported', text);
export const unprocessable = (text: string, expression?: string, code: IssueCode = 'processing') =>
  make(422, code, text, expression);
export const forbidden = (text: string) => make(403, 'forbidden', text);
export const unavailable = (text: string, retryAfter: number): Outcome => ({
  ...make(503, 'transient', text),
  retryAfter,
});
export const serverError = (text = 'Internal error; see the gateway log for the error id') =>
  make(500, 'exception', text, undefined, 'fatal');

export const allOk = (text: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'information', code: 'informational', details: { text } }],
});

/** The one error that carries an Outcome through the stack. */
export class OperationOutcomeError extends Error {
  override name = 'OperationOutcomeError';
  constructor(readonly result: Outcome, options?: { cause?: unknown }) {
    super(result.outcome.issue.map((i) => i.details?.text ?? i.code).join('; '), options);
  }
  get status(): number {
    return this.result.status;
  }
}

/** Anything thrown → an Outcome. Unknown errors become a 500 without their message (it may carry PHI). */
export function normalizeOutcome(err: unknown): Outcome {
  if (err instanceof OperationOutcomeError) return err.result;
  return serverError();
}

/** Combine several issues (e.g. batch entries) into one outcome. */
export function outcomeOf(issues: OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}
