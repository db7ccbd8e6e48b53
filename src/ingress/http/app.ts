/**
 * The LAN HTTP API as a hono app: POST /fhir, POST /fhir/{type}, GET /messages/{id},
 * and the Consent registry routes. Parsing and shape checks happen here; decisions
 * happen in the pipeline. Every error is a FHIR OperationOutcome.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { isPurposeOfUse, type FhirResource, type PurposeOfUse } from '../../model/index.js';
import {
  OperationOutcomeError,
  badRequest,
  notFound,
  outcomeErrorHandler,
  quotaExceeded,
  replyOutcome as reply,
  tooLarge,
  unsupportedMediaType,
  validateInbound,
  RESOURCE_TYPES,
  type ShapeLimits,
} from '../../fhir/index.js';
import type { Pipeline } from '../../pipeline/index.js';

/** Success answers; refusals are thrown as OperationOutcomeError and answered by onError. */
export interface ConsentRoutes {
  /** `source`: the sender, as for messages; a consent's weak patient ids are namespaced by it. */
  post(body: unknown, source: string): { status: number; body: unknown };
  put(id: string, body: unknown, source: string): { status: number; body: unknown };
  delete(id: string): { status: number; body: unknown };
  search(query: Record<string, string>, source: string): { status: number; body: unknown };
  read?(id: string, version?: string): { status: number; body: unknown };
}

export interface LanAppOptions {
  pipeline: Pipeline;
  messages: { getMessage(id: string): unknown | undefined; atQuota(): boolean };
  destinationNames: string[];
  defaultPurpose: PurposeOfUse;
  maxBodyBytes: number;
  shape: ShapeLimits;
  consent?: ConsentRoutes;
  /** The authenticated sender (mTLS client name) or a fallback for plain HTTP. */
  sourceOf?: (c: Context) => string;
  /** Seconds a sender should wait when the queue is full. */
  retryAfterSeconds?: number;
  observer?: { request?(route: string, status: number): void; error?(err: unknown, errorId: string): void };
}

const FHIR_JSON = /^application\/(fhir\+)?json(\s*;.*)?$/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function createLanApp(opts: LanAppOptions) {
  const app = new Hono();
  const retryAfter = opts.retryAfterSeconds ?? 30;
  const known = new Set(opts.destinationNames);

  // Every error, ours or not, is answered here (a quota hit during the commit included).
  app.onError(outcomeErrorHandler((err, errorId) => opts.observer?.error?.(err, errorId)));
  app.notFound((c) => reply(c, notFound(`No route for ${c.req.method} ${new URL(c.req.url).pathname}`)));

  const streamingLimit = bodyLimit({
    maxSize: opts.maxBodyBytes,
    onError: (c) => reply(c, tooLarge(`The body is larger than ${opts.maxBodyBytes} bytes`)),
  });
  /**
   * With a Content-Length the size is known before reading (and node's parser never reads
   * past it): answer 413 at once, or read without wrapping the stream. Chunked bodies go
   * through hono's streaming limit, which stops reading at the limit.
   */
  const limit: MiddlewareHandler = async (c, next) => {
    const length = c.req.header('content-length');
    if (length !== undefined && /^\d{1,15}$/.test(length) && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > opts.maxBodyBytes) return reply(c, tooLarge(`The body is larger than ${opts.maxBodyBytes} bytes`));
      await next();
      return;
    }
    return streamingLimit(c, next);
  };

  /** Reads, decodes and parses a FHIR JSON body; clear errors for each way it can be wrong. */
  async function readJson(c: Context): Promise<unknown> {
    const type = c.req.header('content-type') ?? '';
    if (!FHIR_JSON.test(type)) {
      throw new OperationOutcomeError(unsupportedMediaType(`Content-Type must be application/fhir+json or application/json, got "${type.slice(0, 80)}"`));
    }
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new OperationOutcomeError(badRequest('The body is not valid UTF-8'));
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      const m = /position (\d+)/.exec((err as Error).message);
      throw new OperationOutcomeError(badRequest(`The body is not valid JSON${m ? ` (at character ${m[1]})` : ''}`));
    }
  }

  function purposeOf(c: Context): PurposeOfUse {
    const raw = c.req.header('x-purpose-of-use');
    if (raw === undefined || raw === '') return opts.defaultPurpose;
    const code = raw.trim().toUpperCase();
    if (!isPurposeOfUse(code)) {
      throw new OperationOutcomeError(badRequest(`X-Purpose-Of-Use "${raw.slice(0, 40)}" is not a known HL7 v3 PurposeOfUse code (e.g. TREAT, ETREAT, HRESCH, PUBHLTH)`, 'X-Purpose-Of-Use'));
    }
    return code;
  }

  function destinationsOf(c: Context): string[] | undefined {
    const raw = c.req.header('x-destination');
    if (!raw) return undefined;
    const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) {
      throw new OperationOutcomeError(badRequest(`X-Destination names an unknown destination: ${unknown.map((u) => `"${u.slice(0, 64)}"`).join(', ')}`, 'X-Destination'));
    }
    return names;
  }

  function idempotencyKeyOf(c: Context): string | undefined {
    const key = c.req.header('idempotency-key');
    if (key === undefined) return undefined;
    if (!/^[\x21-\x7e]{1,200}$/.test(key)) {
      throw new OperationOutcomeError(badRequest('Idempotency-Key must be 1–200 visible ASCII characters', 'Idempotency-Key'));
    }
    return key;
  }

  async function post(c: Context, pathType: string | undefined) {
    if (opts.messages.atQuota()) return reply(c, quotaExceeded(retryAfter));
    const purpose = purposeOf(c);
    const destinations = destinationsOf(c);
    const idempotencyKey = idempotencyKeyOf(c);
    const body = await readJson(c);
    const resource: FhirResource = validateInbound(body, pathType, opts.shape);
    const result = await opts.pipeline.ingest({
      resource,
      source: opts.sourceOf?.(c) ?? 'lan',
      purpose,
      format: 'fhir',
      destinations,
      idempotencyKey,
    });
    const answer = result.kind === 'accepted' ? result.answer : (JSON.parse(result.stored) as { id: string });
    c.header('Location', `/messages/${answer.id}`);
    if (result.kind === 'duplicate') c.header('Idempotent-Replayed', 'true');
    return c.json(answer, 202);
  }

  app.post('/fhir', limit, (c) => post(c, undefined));
  app.post('/fhir/', limit, (c) => post(c, undefined));

  if (opts.consent) {
    const consent = opts.consent;
    const send = (c: Context, r: { status: number; body: unknown }) => c.json(r.body as object, r.status as 200);
    const sourceOf = (c: Context) => opts.sourceOf?.(c) ?? 'lan';
    app.post('/fhir/Consent', limit, async (c) => send(c, consent.post(await readJson(c), sourceOf(c))));
    app.put('/fhir/Consent/:id', limit, async (c) => send(c, consent.put(c.req.param('id'), await readJson(c), sourceOf(c))));
    app.delete('/fhir/Consent/:id', (c) => send(c, consent.delete(c.req.param('id'))));
    app.get('/fhir/Consent', (c) => send(c, consent.search(c.req.query(), sourceOf(c))));
    if (consent.read) {
      const read = consent.read.bind(consent);
      app.get('/fhir/Consent/:id', (c) => send(c, read(c.req.param('id'))));
      app.get('/fhir/Consent/:id/_history/:vid', (c) => send(c, read(c.req.param('id'), c.req.param('vid'))));
    }
  }

  app.post('/fhir/:type', limit, (c) => {
    const type = c.req.param('type');
    if (!RESOURCE_TYPES.has(type)) throw new OperationOutcomeError(notFound(`"${type.slice(0, 64)}" is not a FHIR R4 resource type`));
    return post(c, type);
  });

  app.get('/messages/:id', (c) => {
    const m = opts.messages.getMessage(c.req.param('id'));
    if (!m) return reply(c, notFound('No message with this id'));
    return c.json(m as object);
  });

  return app;
}
