/**
 * The hot path for POST /fhir/{type}: the same answer as the LAN app's own route (guard,
 * quota, headers, the same refusals and the 202 body), but the body's checks (depth,
 * UTF-8, JSON, shape and R4 structure: the largest CPU cost of ingest) run in the worker
 * pool, so the main thread keeps to decisions and the commit.
 *
 * It sits in front of the LAN app (withHotPost) and takes only the plain case: a known
 * resource type other than Consent, without a Prefer header. Everything else falls
 * through to the app unchanged, so answers that depend on other headers stay the app's.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { isPurposeOfUse, type PurposeOfUse } from '../../model/index.js';
import {
  OperationOutcomeError,
  badRequest,
  notFound,
  outcomeErrorHandler,
  quotaExceeded,
  replyOutcome as reply,
  tooLarge,
  unsupportedMediaType,
  RESOURCE_TYPES,
  type ShapeLimits,
} from '../../fhir/index.js';
import type { FhirResource } from '../../model/index.js';
import type { Pipeline } from '../../pipeline/index.js';
import { authorize, routeRule, type HttpAuth } from '../../auth/index.js';

export interface HotPostOptions {
  pipeline: Pipeline;
  /** The body's checks, off the main thread (WorkerPool.checkInbound). */
  checkInbound(bytes: Uint8Array, pathType: string | undefined, shape: ShapeLimits): Promise<FhirResource>;
  messages: { atQuota(): boolean };
  destinationNames: string[];
  defaultPurpose: PurposeOfUse;
  maxBodyBytes: number;
  shape: ShapeLimits;
  auth?: HttpAuth;
  onBreakGlass?: (e: { actor: string; reasonText: string; messageId: string }) => void;
  retryAfterSeconds?: number;
  observer?: { error?(err: unknown, errorId: string): void };
}

const FHIR_JSON = /^application\/(fhir\+)?json(\s*;.*)?$/i;

/** `app` behind the hot path: one hono app to serve in its place. */
export function withHotPost(app: Hono, opts: HotPostOptions): Hono {
  const outer = new Hono();
  outer.onError(outcomeErrorHandler((err, errorId) => opts.observer?.error?.(err, errorId)));
  outer.notFound((c) => reply(c, notFound(`No route for ${c.req.method} ${new URL(c.req.url).pathname}`)));
  outer.post('/fhir/:type', hotPost(opts));
  outer.route('/', app);
  return outer;
}

function hotPost(opts: HotPostOptions): MiddlewareHandler {
  const retryAfter = opts.retryAfterSeconds ?? 30;
  const known = new Set(opts.destinationNames);
  const rule = routeRule('lan', 'POST', '/fhir/:type');
  const guard: MiddlewareHandler = opts.auth ? opts.auth.guard(rule) : async (_c, next) => next();

  const header = (c: Context, name: string) => c.req.header(name);

  function purposeOf(c: Context): PurposeOfUse {
    const raw = header(c, 'x-purpose-of-use');
    if (raw === undefined || raw === '') return opts.defaultPurpose;
    const code = raw.trim().toUpperCase();
    if (!isPurposeOfUse(code)) {
      throw new OperationOutcomeError(badRequest(`X-Purpose-Of-Use "${raw.slice(0, 40)}" is not a known HL7 v3 PurposeOfUse code (e.g. TREAT, ETREAT, HRESCH, PUBHLTH)`, 'X-Purpose-Of-Use'));
    }
    return code;
  }

  function destinationsOf(c: Context): string[] | undefined {
    const raw = header(c, 'x-destination');
    if (!raw) return undefined;
    const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) {
      throw new OperationOutcomeError(badRequest(`X-Destination names an unknown destination: ${unknown.map((u) => `"${u.slice(0, 64)}"`).join(', ')}`, 'X-Destination'));
    }
    return names;
  }

  function idempotencyKeyOf(c: Context): string | undefined {
    const key = header(c, 'idempotency-key');
    if (key === undefined) return undefined;
    if (!/^[\x21-\x7e]{1,200}$/.test(key)) throw new OperationOutcomeError(badRequest('Idempotency-Key must be 1–200 visible ASCII characters', 'Idempotency-Key'));
    return key;
  }

  function claimedSourceOf(c: Context): string | undefined {
    const raw = header(c, 'x-source-system');
    if (raw === undefined || raw === '') return undefined;
    if (!/^[A-Za-z0-9][A-Za-z0-9 ._:/@-]{0,63}$/.test(raw)) {
      throw new OperationOutcomeError(badRequest('X-Source-System must be a system name: 1–64 letters, digits and . _ : / @ - or space', 'X-Source-System'));
    }
    return raw;
  }

  async function post(c: Context, pathType: string) {
    // The size is known from Content-Length here (chunked bodies fell through to the app).
    if (Number(header(c, 'content-length')) > opts.maxBodyBytes) return reply(c, tooLarge(`The body is larger than ${opts.maxBodyBytes} bytes`));
    if (opts.messages.atQuota()) return reply(c, quotaExceeded(retryAfter));
    const purpose = purposeOf(c);
    const destinations = destinationsOf(c);
    const idempotencyKey = idempotencyKeyOf(c);
    const claimedSource = claimedSourceOf(c);
    const identity = opts.auth?.identityOf(c);
    let source = 'lan';
    let breakGlass: string | undefined;
    if (opts.auth) {
      if (!identity) throw new Error('the guard let a request through without an identity');
      source = claimedSource && authorize(identity, 'source.claim').allowed ? claimedSource : identity.name;
      if (purpose === 'ETREAT') {
        const reasonText = header(c, 'x-break-glass-reason') ?? '';
        const a = authorize(identity, 'purpose.etreat', { breakGlassReason: reasonText });
        if (!a.allowed) return opts.auth.deny(c, rule, a, identity);
        breakGlass = reasonText;
      }
    }
    const type = header(c, 'content-type') ?? '';
    if (!FHIR_JSON.test(type)) {
      throw new OperationOutcomeError(unsupportedMediaType(`Content-Type must be application/fhir+json or application/json, got "${type.slice(0, 80)}"`));
    }
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const resource = await opts.checkInbound(bytes, pathType, opts.shape);
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
    const answer = result.kind === 'accepted' ? result.answer : (JSON.parse(result.stored) as { id: string });
    if (breakGlass !== undefined && identity && result.kind === 'accepted') opts.onBreakGlass?.({ actor: identity.name, reasonText: breakGlass, messageId: answer.id });
    c.header('Location', `/messages/${answer.id}`);
    if (result.kind === 'duplicate') c.header('Idempotent-Replayed', 'true');
    return c.json(answer, 202);
  }

  return async (c, next) => {
    const type = c.req.param('type') ?? '';
    const length = header(c, 'content-length');
    const plain =
      type !== 'Consent' &&
      RESOURCE_TYPES.has(type) &&
      header(c, 'prefer') === undefined &&
      length !== undefined &&
      /^\d{1,15}$/.test(length) &&
      header(c, 'transfer-encoding') === undefined;
    if (!plain) return next();
    return guard(c, async () => {
      c.res = await post(c, type);
    });
  };
}
