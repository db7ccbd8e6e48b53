/**
 * How a submission is answered, once it is committed: darwaza's own decision JSON for a
 * client that asked for it (Accept: application/vnd.darwaza.decision+json), else FHIR:
 * Bundles of type batch, transaction and message get their response Bundle (200), a single
 * resource (or a collection) gets 202 with what `Prefer: return=` asks for (an
 * OperationOutcome of the decisions by default). Every answer carries Location: the
 * message's status URL.
 */
import type { Context } from 'hono';
import type { FhirResource } from '../../model/index.js';
import {
  FHIR_JSON_TYPE,
  batchResponse,
  decisionOutcome,
  messageLocation,
  messageResponse,
  representation,
  transactionResponse,
  type AnswerFormat,
  type ReturnPreference,
  type SubmissionAnswer,
} from '../../fhir/index.js';

export function fhirJson(c: Context, body: unknown, status: number): Response {
  return c.body(JSON.stringify(body), status as 200, { 'Content-Type': FHIR_JSON_TYPE });
}

export function answerSubmission(
  c: Context,
  a: { answer: SubmissionAnswer; resource: FhirResource; format: AnswerFormat; prefer: ReturnPreference | undefined; now: Date },
): Response {
  const { answer, resource } = a;
  c.header('Location', messageLocation(answer.id));
  if (a.format === 'decision') return c.json(answer, 202);
  if (resource.resourceType === 'Bundle') {
    if (resource.type === 'batch') return fhirJson(c, batchResponse(answer), 200);
    if (resource.type === 'transaction') return fhirJson(c, transactionResponse(answer, resource), 200);
    if (resource.type === 'message') return fhirJson(c, messageResponse(answer, resource, { now: a.now }), 200);
  }
  if (a.prefer === 'minimal') return c.body(null, 202);
  if (a.prefer === 'representation') return fhirJson(c, representation(resource, answer.id), 202);
  return fhirJson(c, decisionOutcome(answer.id, answer.destinations), 202);
}
