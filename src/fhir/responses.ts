/**
 * darwaza's answer to a submission (`{ id, destinations[], entries? }`: what each
 * destination decided) written the way a FHIR client expects it:
 * - a single resource (or a collection Bundle): an OperationOutcome with one issue per
 *   destination, in words;
 * - a batch: a `batch-response` Bundle, one entry per request entry (status, location,
 *   outcome);
 * - a transaction: a `transaction-response` Bundle;
 * - a message Bundle: a response message (MessageHeader.response names the request's
 *   MessageHeader.id, code ok or fatal-error) whose focus is the same OperationOutcome.
 * Pure functions; the texts are the decisions' own reasons (PHI-free by construction).
 */
import type { Coding, DestinationOutcome, FhirResource } from '../model/index.js';
import { outcomeOf, type OperationOutcome, type OperationOutcomeIssue } from './outcomes.js';

/** The submission answer as the pipeline makes it (structurally; this folder does not import the pipeline). */
export interface SubmissionAnswer {
  id: string;
  destinations: DestinationOutcome[];
  entries?: { index: number; id: string; destinations: DestinationOutcome[]; outcome: OperationOutcome; status?: number }[];
}

/** The status URL of a message (the Location of every accepted submission). */
export const messageLocation = (id: string) => `/messages/${id}`;

const REASON_PHRASES: Record<number, string> = {
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
/** An entry.response.status: the code first, as FHIR asks, then its phrase. */
export const statusLine = (status: number) => `${status}${REASON_PHRASES[status] ? ` ${REASON_PHRASES[status]}` : ''}`;

function destinationIssue(d: DestinationOutcome, expression?: string): OperationOutcomeIssue {
  const rules = d.ruleIds?.length ? ` (rules: ${d.ruleIds.join(', ')})` : '';
  const policy = d.policy ? ` [policy ${d.policy.id} ${d.policy.version}]` : '';
  const why = d.reasons.length ? `: ${d.reasons.join('; ')}` : '';
  return {
    severity: 'information',
    code: 'informational',
    details: { text: `${d.name}: ${d.decision}${why}${rules}${policy}` },
    ...(expression ? { expression: [expression] } : {}),
  };
}

/** The decisions in words: the message id first, then one issue per destination. */
export function decisionOutcome(id: string, destinations: DestinationOutcome[], expression?: string): OperationOutcome {
  const queued = destinations.filter((d) => d.decision === 'queued').length;
  const head: OperationOutcomeIssue = {
    severity: 'information',
    code: 'informational',
    details: {
      text: `accepted as message ${id}: queued for ${queued} of ${destinations.length} destination(s); where it stands: ${messageLocation(id)}`,
    },
    ...(expression ? { expression: [expression] } : {}),
  };
  return outcomeOf([head, ...destinations.map((d) => destinationIssue(d, expression))]);
}

/** Tag system naming the message a resource was accepted as. */
export const MESSAGE_TAG_SYSTEM = 'urn:darwaza:message-id';

/**
 * `Prefer: return=representation`: the resource as received, with a meta.tag naming the
 * message it was accepted as. darwaza stores nothing, so there is no server id or version
 * to give it.
 */
export function representation(resource: FhirResource, id: string): FhirResource {
  const meta = resource.meta ?? {};
  const tag: Coding[] = [...(Array.isArray(meta.tag) ? meta.tag : []), { system: MESSAGE_TAG_SYSTEM, code: id, display: 'accepted by the darwaza gateway; not stored' }];
  return { ...resource, meta: { ...meta, tag } };
}

/** A batch: one entry per request entry, each judged as its own message. */
export function batchResponse(answer: SubmissionAnswer): FhirResource {
  const entries = [...(answer.entries ?? [])].sort((a, b) => a.index - b.index);
  const entry = entries.map((e) => {
    const where = `Bundle.entry[${e.index}]`;
    if (!e.id) {
      // Refused before any destination judged it (no route, bad content): its own error.
      return { response: { status: statusLine(e.status ?? 422), outcome: e.outcome } };
    }
    return { response: { status: statusLine(202), location: messageLocation(e.id), outcome: decisionOutcome(e.id, e.destinations, where) } };
  });
  // FHIR JSON has no empty arrays: an empty batch answers a Bundle without entries.
  return { resourceType: 'Bundle', id: answer.id, type: 'batch-response', ...(entry.length ? { entry } : {}) };
}

/**
 * A transaction is one message: every entry answers 202 with the message's Location; the
 * decisions (which apply to the whole) are given once, on the first entry.
 */
export function transactionResponse(answer: SubmissionAnswer, request: FhirResource): FhirResource {
  const n = Array.isArray(request.entry) ? request.entry.length : 0;
  const outcome = decisionOutcome(answer.id, answer.destinations);
  return {
    resourceType: 'Bundle',
    id: answer.id,
    type: 'transaction-response',
    ...(n
      ? {
          entry: Array.from({ length: n }, (_, i) => ({
            response: { status: statusLine(202), location: messageLocation(answer.id), ...(i === 0 ? { outcome } : {}) },
          })),
        }
      : {}),
  };
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * The response message to a message Bundle. MessageHeader.response.identifier is the
 * request's MessageHeader.id (else the request Bundle's id); a request with neither
 * cannot be answered by reference, so its response carries no `response` element and
 * the outcome says why. Code: ok when some destination queued it, fatal-error when every
 * destination denied it (resending the same message will not change that).
 */
export function messageResponse(answer: SubmissionAnswer, request: FhirResource, opts: { now: Date; newId?: () => string }): FhirResource {
  const newId = opts.newId ?? (() => crypto.randomUUID());
  const entries = Array.isArray(request.entry) ? (request.entry as { resource?: FhirResource }[]) : [];
  const header = entries[0]?.resource ?? ({} as FhirResource);
  const requestId = [header.id, request.id].find((x): x is string => typeof x === 'string' && ID.test(x));
  const queued = answer.destinations.some((d) => d.decision === 'queued');
  const outcome = decisionOutcome(answer.id, answer.destinations);
  if (!requestId) {
    outcome.issue.push({ severity: 'warning', code: 'informational', details: { text: 'the request MessageHeader has no id, so this response cannot name it (MessageHeader.response is left out)' } });
  }
  const event =
    header.eventCoding && typeof header.eventCoding === 'object'
      ? { eventCoding: header.eventCoding }
      : typeof header.eventUri === 'string'
        ? { eventUri: header.eventUri }
        : { eventUri: 'urn:darwaza:event:accepted' };
  const headerId = newId();
  const outcomeId = newId();
  const requestSource = (header.source ?? {}) as { endpoint?: unknown };
  return {
    resourceType: 'Bundle',
    id: newId(),
    type: 'message',
    timestamp: opts.now.toISOString(),
    entry: [
      {
        fullUrl: `urn:uuid:${headerId}`,
        resource: {
          resourceType: 'MessageHeader',
          id: headerId,
          ...event,
          ...(typeof requestSource.endpoint === 'string' ? { destination: [{ endpoint: requestSource.endpoint }] } : {}),
          source: { name: 'darwaza', endpoint: 'urn:darwaza:gateway' },
          ...(requestId ? { response: { identifier: requestId, code: queued ? 'ok' : 'fatal-error', details: { reference: `urn:uuid:${outcomeId}` } } } : {}),
          focus: [{ reference: `urn:uuid:${outcomeId}` }],
        },
      },
      { fullUrl: `urn:uuid:${outcomeId}`, resource: { ...outcome, id: outcomeId } },
    ],
  };
}

/** Where a message stands (the store's status), structurally. */
export interface MessageStanding {
  id: string;
  receivedAt: string;
  outcomes?: unknown;
  destinations: { destination: string; state: string; attempts: number; lastError?: string; deliveredAt?: string }[];
}

/**
 * GET /messages/{id} for a FHIR client: an OperationOutcome with one issue per
 * destination (its queue state, or the decision that kept it from being queued).
 */
export function messageStandingOutcome(m: MessageStanding): OperationOutcome {
  const issues: OperationOutcomeIssue[] = [{ severity: 'information', code: 'informational', details: { text: `message ${m.id}, received ${m.receivedAt}` } }];
  const queued = new Set(m.destinations.map((d) => d.destination));
  for (const d of m.destinations) {
    const when = d.deliveredAt ? ` at ${d.deliveredAt}` : '';
    const error = d.lastError ? `; last error: ${d.lastError}` : '';
    issues.push({
      severity: d.state === 'dead' || d.state === 'withdrawn' ? 'warning' : 'information',
      code: 'informational',
      details: { text: `${d.destination}: ${d.state}${when} after ${d.attempts} attempt(s)${error}` },
    });
  }
  const decided = Array.isArray(m.outcomes) ? (m.outcomes as DestinationOutcome[]) : [];
  for (const o of decided) {
    if (queued.has(o.name) || o.decision === 'queued') continue;
    issues.push({ ...destinationIssue(o), severity: 'warning' });
  }
  return outcomeOf(issues);
}
