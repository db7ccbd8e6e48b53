/**
 * The LAN HTTP API as a hono app: GET /fhir/metadata, POST /fhir, POST /fhir/{type},
 * GET /messages/{id}, and the Consent registry routes. Parsing and shape checks happen
 * here; decisions happen in the pipeline. Every error is a FHIR OperationOutcome; answers
 * follow FHIR R4's http page (content negotiation, Prefer, batch/transaction/message
 * responses: ./answer.ts), and interactions a gateway does not offer answer 405
 * (./unsupported.ts).
 *
 * Each route is guarded by its row in src/auth's route table (`auth`); the source of a
 * message is the authenticated identity, X-Source-System is honoured only for an identity
 * with the integration-engine grant, and purpose ETREAT needs the break-glass grant and
 * an X-Break-Glass-Reason (see docs/security.md).
 */
import { stageClock } from './stage-times.js';
import { knownLength, readExactly } from './body.js';
import type { IncomingMessage } from 'node:http';
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
  checkInbound,
  parseBody,
  RESOURCE_TYPES,
  bodyTypeRefusal,
  capabilityStatement,
  negotiate,
  preferredReturn,
  singleFormat,
  namesFhir,
  messageStandingOutcome,
  type MessageStanding,
  type AnswerFormat,
  type CapabilityOptions,
  type ShapeLimits,
  type SubmissionAnswer,
} from '../../fhir/index.js';
import { answerSubmission, fhirJson } from './answer.js';
import { refuseUnsupported } from './unsupported.js';
import type { Pipeline } from '../../pipeline/index.js';
import { authorize, routeRule, type HttpAuth, type RouteRule } from '../../auth/index.js';

/** Success answers; refusals are thrown as OperationOutcomeError and answered by onError. */
/** actor: the authenticated identity's name, for the consent's audit entry. */
type ConsentAnswer = { status: number; body: unknown };

export interface ConsentRoutes {
  /** actor: the authenticated identity; it names the writer in the audit, and namespaces weak patient ids. */
  post(body: unknown, actor?: string, source?: string): Promise<ConsentAnswer>;
  put(id: string, body: unknown, actor?: string, source?: string): Promise<ConsentAnswer>;
  delete(id: string, actor?: string): Promise<ConsentAnswer>;
  search(query: Record<string, string>, source?: string): Promise<ConsentAnswer>;
  read?(id: string, version?: string): Promise<ConsentAnswer>;
}

export interface LanAppOptions {
  pipeline: Pipeline;
  messages: { getMessage(id: string): Promise<unknown> | unknown; atQuota(): boolean };
  destinationNames: string[];
  defaultPurpose: PurposeOfUse;
  maxBodyBytes: number;
  shape: ShapeLimits;
  consent?: ConsentRoutes;
  /**
   * Authentication and the per-route guard. Without it every route is open and the source
   * comes from `sourceOf`: for tests of parsing only; the gateway always passes one.
   */
  auth?: HttpAuth;
  /** Source without `auth` (tests). */
  sourceOf?: (c: Context) => string;
  /** A submission under break glass was accepted (audit it: actor, stated reason, message id). */
  onBreakGlass?: (e: { actor: string; reasonText: string; messageId: string }) => void;
  /**
   * The body's checks for a submission (parse, shape, R4 structure), by default on this thread.
   * The gateway passes its worker pool's, which runs them off the main thread with the same
   * refusals (they are one function, checkInbound).
   */
  checkInbound?: (bytes: Uint8Array, pathType: string | undefined, shape: ShapeLimits) => Promise<FhirResource> | FhirResource;
  /** Seconds a sender should wait when the queue is full. */
  retryAfterSeconds?: number;
  /**
   * What GET /fhir/metadata states (version, date, security); without it a statement is
   * made from what the app knows (tests).
   */
  capability?: Omit<CapabilityOptions, 'baseUrl'>;
  clock?: () => Date;
  observer?: { request?(route: string, status: number): void; error?(err: unknown, errorId: string): void };
}


export function createLanApp(opts: LanAppOptions) {
  const app = new Hono();
  const check = opts.checkInbound ?? checkInbound;
  const retryAfter = opts.retryAfterSeconds ?? 30;
  const known = new Set(opts.destinationNames);
  const open: MiddlewareHandler = async (_c, next) => next();
  const guard = (method: RouteRule['method'], path: string, ownerOf?: (c: Context) => string | undefined | Promise<string | undefined>): MiddlewareHandler =>
    opts.auth ? opts.auth.guard(routeRule('lan', method, path), ownerOf) : open;
  const actorOf = (c: Context) => opts.auth?.identityOf(c)?.name;

  // Every error, ours or not, is answered here (a quota hit during the commit included).
  app.onError(outcomeErrorHandler((err, errorId) => opts.observer?.error?.(err, errorId)));
  app.notFound((c) => reply(c, notFound(`No route for ${c.req.method} ${new URL(c.req.url).pathname}`)));

  const clock = opts.clock ?? (() => new Date());
  /** The answer format (`_format`, then Accept), or 406 for what is not served. */
  function formatOf(c: Context): AnswerFormat {
    const f = singleFormat(c.req.queries('_format'));
    if (f !== undefined && typeof f !== 'string') throw new OperationOutcomeError(f);
    const chosen = negotiate(c.req.header('accept'), f);
    if (typeof chosen !== 'string') throw new OperationOutcomeError(chosen);
    return chosen;
  }
  // Every route answers JSON only: a client asking for anything else learns it before any work.
  app.use('*', async (c, next) => {
    formatOf(c);
    await next();
  });

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
    const length = knownLength(c);
    if (length !== undefined) {
      if (length > opts.maxBodyBytes) return reply(c, tooLarge(`The body is larger than ${opts.maxBodyBytes} bytes`));
      await next();
      return;
    }
    return streamingLimit(c, next);
  };

  /** The body's bytes, once its Content-Type is one darwaza reads. */
  async function bodyBytes(c: Context): Promise<Uint8Array> {
    const refused = bodyTypeRefusal(c.req.header('content-type'));
    if (refused) throw new OperationOutcomeError(refused);
    // Served by node with a Content-Length (already checked against the limit): read node's request
    // directly; hono's arrayBuffer() builds a web Request and stream around it first (≈5% of the
    // main thread at full rate). Chunked bodies, and requests not from node (app.request), go through hono.
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const length = knownLength(c);
    if (incoming && length !== undefined && !incoming.readableDidRead) return readExactly(incoming, length);
    return new Uint8Array(await c.req.arrayBuffer());
  }

  /** Reads, decodes and parses a FHIR JSON body; clear errors for each way it can be wrong. */
  async function readJson(c: Context): Promise<unknown> {
    return parseBody(await bodyBytes(c), opts.shape);
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

  /** X-Source-System as sent: a system name (1–64 of letters, digits and . _ : / @ - and space), else 400. */
  function claimedSourceOf(c: Context): string | undefined {
    const raw = c.req.header('x-source-system');
    if (raw === undefined || raw === '') return undefined;
    if (!/^[A-Za-z0-9][A-Za-z0-9 ._:/@-]{0,63}$/.test(raw)) {
      throw new OperationOutcomeError(badRequest('X-Source-System must be a system name: 1–64 letters, digits and . _ : / @ - or space', 'X-Source-System'));
    }
    return raw;
  }

  /** The authenticated identity is the source; a claim (X-Source-System) counts only from an integration engine. */
  function sourceOfRequest(c: Context): string {
    const identity = opts.auth?.identityOf(c);
    if (!opts.auth || !identity) return opts.sourceOf?.(c) ?? 'lan';
    const claimedSource = claimedSourceOf(c);
    return claimedSource && authorize(identity, 'source.claim').allowed ? claimedSource : identity.name;
  }

  async function post(c: Context, rule: RouteRule, pathType: string | undefined) {
    if (opts.messages.atQuota()) return reply(c, quotaExceeded(retryAfter));
    const purpose = purposeOf(c);
    const destinations = destinationsOf(c);
    const idempotencyKey = idempotencyKeyOf(c);
    const claimedSource = claimedSourceOf(c);
    const identity = opts.auth?.identityOf(c);
    const source = sourceOfRequest(c);
    let breakGlass: string | undefined;
    if (opts.auth) {
      if (!identity) throw new Error('the guard let a request through without an identity');
      if (purpose === 'ETREAT') {
        const reasonText = c.req.header('x-break-glass-reason') ?? '';
        const a = authorize(identity, 'purpose.etreat', { breakGlassReason: reasonText });
        if (!a.allowed) return opts.auth.deny(c, rule, a, identity);
        breakGlass = reasonText;
      }
    }
    const stages = stageClock();
    const bytes = await bodyBytes(c);
    stages.mark();
    const resource: FhirResource = await check(bytes, pathType, opts.shape);
    stages.mark();
    const result = await opts.pipeline.ingest({
      resource,
      source,
      ...(identity ? { actor: identity.name } : {}),
      ...(claimedSource ? { claimedSource } : {}),
      purpose,
      format: 'fhir',
      destinations,
      idempotencyKey,
    });
    // A replay answers from the stored decision JSON, written in the format this request asks for.
    const answer = result.kind === 'accepted' ? result.answer : (JSON.parse(result.stored) as SubmissionAnswer);
    if (breakGlass !== undefined && identity && result.kind === 'accepted') {
      opts.onBreakGlass?.({ actor: identity.name, reasonText: breakGlass, messageId: answer.id });
    }
    if (result.kind === 'duplicate') c.header('Idempotent-Replayed', 'true');
    stages.mark();
    const response = answerSubmission(c, { answer, resource, format: formatOf(c), prefer: preferredReturn(c.req.header('prefer')), now: clock() });
    stages.done();
    return response;
  }

  const started = clock().toISOString();
  const capability: Omit<CapabilityOptions, 'baseUrl'> = opts.capability ?? { version: 'dev', date: started, certificates: false, bearerTokens: opts.auth !== undefined };
  app.get('/fhir/metadata', guard('GET', '/fhir/metadata'), (c) => {
    const url = new URL(c.req.url);
    return fhirJson(c, capabilityStatement({ ...capability, baseUrl: `${url.protocol}//${url.host}/fhir` }), 200);
  });

  const bundleRule = routeRule('lan', 'POST', '/fhir');
  app.post('/fhir', guard('POST', '/fhir'), limit, (c) => post(c, bundleRule, undefined));
  app.post('/fhir/', guard('POST', '/fhir'), limit, (c) => post(c, bundleRule, undefined));

  if (opts.consent) {
    const consent = opts.consent;
    const send = async (c: Context, answer: Promise<ConsentAnswer>) => {
      const r = await answer;
      return c.json(r.body as object, r.status as 200);
    };
    // Weak patient ids in a consent are namespaced by the same source a message from this sender gets.
    app.post('/fhir/Consent', guard('POST', '/fhir/Consent'), limit, async (c) => send(c, consent.post(await readJson(c), actorOf(c), sourceOfRequest(c))));
    app.put('/fhir/Consent/:id', guard('PUT', '/fhir/Consent/:id'), limit, async (c) => send(c, consent.put(c.req.param('id'), await readJson(c), actorOf(c), sourceOfRequest(c))));
    app.delete('/fhir/Consent/:id', guard('DELETE', '/fhir/Consent/:id'), (c) => send(c, consent.delete(c.req.param('id'), actorOf(c))));
    app.get('/fhir/Consent', guard('GET', '/fhir/Consent'), (c) => send(c, consent.search(c.req.query(), sourceOfRequest(c))));
    if (consent.read) {
      const read = consent.read.bind(consent);
      app.get('/fhir/Consent/:id', guard('GET', '/fhir/Consent/:id'), (c) => send(c, read(c.req.param('id'))));
      app.get('/fhir/Consent/:id/_history/:vid', guard('GET', '/fhir/Consent/:id/_history/:vid'), (c) => send(c, read(c.req.param('id'), c.req.param('vid'))));
    }
  }

  const typeRule = routeRule('lan', 'POST', '/fhir/:type');
  app.post('/fhir/:type', guard('POST', '/fhir/:type'), limit, (c) => {
    const type = c.req.param('type');
    if (!RESOURCE_TYPES.has(type)) throw new OperationOutcomeError(notFound(`"${type.slice(0, 64)}" is not a FHIR R4 resource type`));
    return post(c, typeRule, type);
  });

  // The sender of a message may read it back; anyone else needs an oversight role. An unknown id has no owner (403, not 404, for a sender).
  const ownerOf = async (c: Context) => {
    const source = ((await opts.messages.getMessage(c.req.param('id') ?? '')) as { source?: unknown } | undefined)?.source;
    return typeof source === 'string' ? source : undefined;
  };
  app.get('/messages/:id', guard('GET', '/messages/:id', ownerOf), async (c) => {
    const m = await opts.messages.getMessage(c.req.param('id'));
    if (!m) return reply(c, notFound('No message with this id'));
    // darwaza JSON unless FHIR is named: the clients that poll this read its fields.
    if (namesFhir(c.req.header('accept'), c.req.query('_format'))) return fhirJson(c, messageStandingOutcome(m as MessageStanding), 200);
    return c.json(m as object);
  });

  refuseUnsupported(app, '/fhir');
  return app;
}
