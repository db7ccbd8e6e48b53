/**
 * Content negotiation for the LAN API, as FHIR R4's http page describes it: `_format`
 * (which wins over Accept), then Accept; what is not served answers 406. Only JSON is
 * served: FHIR JSON by default, or darwaza's own decision JSON for a client that asks for
 * DECISION_MEDIA_TYPE. XML bodies are refused with 415 (no XML library is carried).
 * Pure functions: a header value in, a choice or an Outcome out.
 */
import { badRequest, notAcceptable, unsupportedMediaType, type Outcome } from './outcomes.js';

/** darwaza's own answer to a submission: `{ id, destinations[], entries? }`. */
export const DECISION_MEDIA_TYPE = 'application/vnd.darwaza.decision+json';
/** What FHIR answers are labelled with. */
export const FHIR_JSON_TYPE = 'application/fhir+json; charset=utf-8';

export type AnswerFormat = 'fhir' | 'decision';

interface MediaRange {
  type: string;
  params: Map<string, string>;
  q: number;
}

function parseRange(raw: string): MediaRange {
  const [type = '', ...rest] = raw.split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  const q = params.has('q') ? Number(params.get('q')) : 1;
  return { type: type.trim().toLowerCase(), params, q: Number.isFinite(q) ? q : 0 };
}

/** JSON spellings a FHIR client uses (application/json+fhir is the DSTU2 name some still send). */
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', 'application/*', '*/*']);

/** R4 is 4.0.x; a client that asks for another version is not served (406). */
const r4 = (r: MediaRange) => {
  const v = r.params.get('fhirversion');
  return v === undefined || v === '4.0' || v.startsWith('4.0.');
};

/** `_format` values (short names or media types; a `+` in a query string may arrive as a space). */
function formatOf(raw: string): AnswerFormat | undefined {
  const v = raw.trim().toLowerCase().replace(/ /g, '+');
  if (v === 'json' || v === 'application/json' || v === 'application/fhir+json' || v === 'application/json+fhir') return 'fhir';
  if (parseRange(v).type === 'application/fhir+json' && r4(parseRange(v))) return 'fhir';
  if (v === DECISION_MEDIA_TYPE) return 'decision';
  return undefined;
}

/**
 * The answer format for a request, or the 406 that says what is served. No Accept, or
 * `*\/*`, means FHIR JSON; the decision JSON only when it is asked for by name.
 */
export function negotiate(accept: string | undefined, format?: string): AnswerFormat | Outcome {
  const served = `darwaza serves JSON only: application/fhir+json (fhirVersion 4.0), application/json, or ${DECISION_MEDIA_TYPE}`;
  if (format !== undefined && format !== '') {
    return formatOf(format) ?? notAcceptable(`_format "${format.slice(0, 60)}" is not served; ${served}`);
  }
  if (accept === undefined || accept.trim() === '') return 'fhir';
  const ranges = accept.split(',').map(parseRange).filter((r) => r.q > 0 && r.type !== '');
  if (ranges.some((r) => r.type === DECISION_MEDIA_TYPE)) return 'decision';
  if (ranges.some((r) => JSON_TYPES.has(r.type) && r4(r))) return 'fhir';
  return notAcceptable(`Accept "${accept.slice(0, 80)}" names nothing darwaza serves; ${served}`);
}

export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

/** `Prefer: return=…` (RFC 7240); other preferences and unknown values are ignored, as the RFC asks. */
export function preferredReturn(prefer: string | undefined): ReturnPreference | undefined {
  if (!prefer) return undefined;
  for (const part of prefer.split(/[,;]/)) {
    const m = /^\s*return\s*=\s*"?([A-Za-z]+)"?\s*$/.exec(part);
    if (!m) continue;
    const v = m[1]!;
    if (v === 'minimal' || v === 'representation') return v;
    if (v.toLowerCase() === 'operationoutcome') return 'OperationOutcome';
  }
  return undefined;
}

const XML = /^(application\/(fhir\+)?xml|text\/xml|application\/xml\+fhir)(\s*;.*)?$/i;
const JSON_BODY = /^application\/(fhir\+json|json|json\+fhir)(\s*;.*)?$/i;

/** A request body's Content-Type: FHIR JSON passes; XML and anything else is a 415 that says why. */
export function bodyTypeRefusal(contentType: string | undefined): Outcome | undefined {
  const type = contentType ?? '';
  if (JSON_BODY.test(type)) {
    const v = parseRange(type).params.get('fhirversion');
    if (v !== undefined && v !== '4.0' && !v.startsWith('4.0.')) {
      return unsupportedMediaType(`fhirVersion ${v.slice(0, 16)} is not accepted; darwaza takes FHIR R4 (4.0)`);
    }
    return undefined;
  }
  if (XML.test(type)) {
    return unsupportedMediaType('FHIR XML is not accepted: darwaza takes FHIR JSON only; send the body as application/fhir+json');
  }
  return unsupportedMediaType(`Content-Type must be application/fhir+json or application/json, got "${type.slice(0, 80)}"`);
}

/** A `_format` given twice or more is a client error rather than a guess. */
export function singleFormat(values: string[] | undefined): string | Outcome | undefined {
  if (!values || values.length === 0) return undefined;
  if (values.length > 1) return badRequest('_format is given more than once', '_format');
  return values[0];
}

/**
 * True when a request names FHIR JSON itself (Accept application/fhir+json, or `_format`
 * json/fhir+json), not just any JSON: for darwaza's own resources (GET /messages/{id}),
 * whose plain-JSON answer existing clients read, and which a FHIR client following a
 * Location gets as an OperationOutcome instead.
 */
export function namesFhir(accept: string | undefined, format?: string): boolean {
  if (format) return formatOf(format) === 'fhir';
  if (!accept) return false;
  const ranges = accept.split(',').map(parseRange).filter((r) => r.q > 0);
  if (ranges.some((r) => r.type === DECISION_MEDIA_TYPE)) return false;
  return ranges.some((r) => (r.type === 'application/fhir+json' || r.type === 'application/json+fhir') && r4(r));
}
