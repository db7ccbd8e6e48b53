/**
 * Authentication and authorization for the hono apps (LAN API and admin API), one way:
 *
 * 1. identity: an Authorization Bearer header (an API token, or on /metrics the metrics
 *    token), else the verified TLS client certificate, else, on a listener without TLS, a
 *    loopback peer with access.loopback's roles; else none;
 * 2. the route's row in ROUTE_RULES names the action; `authorize` decides;
 * 3. a refusal answers an OperationOutcome (401 with WWW-Authenticate for no or bad
 *    credentials, 403 for a missing role, 429 with Retry-After past the consent read rate)
 *    and is reported to `onDenied` for the audit (actor, action, route, reason; no PHI).
 *
 * A presented token that does not verify is refused, never ignored for a weaker identity.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { TLSSocket } from 'node:tls';
import { forbidden } from '../fhir/index.js';
import { authorize, type Authorization } from './authorize.js';
import type { AccessConfig } from './config.js';
import {
  identityFromBearer,
  identityFromCertificate,
  identityFromLoopbackPeer,
  identityFromMetricsBearer,
  type Identity,
  type IdentityResult,
  type TokenVerifier,
} from './identity.js';
import { parseToken } from './tokens.js';
import { RateLimiter } from './rate.js';
import { routeLabel, type Api, type RouteRule } from './routes.js';

export interface Denial {
  status: 401 | 403 | 429;
  /** The identity's name, when there was one. */
  actor?: string;
  action: string;
  /** "METHOD /pattern", never a concrete id or query. */
  route: string;
  reason: string;
}

export interface HttpAuthOptions {
  api: Api;
  access: AccessConfig;
  tokens?: TokenVerifier;
  /** SHA-256 of the metrics scrape token (access.metricsToken), when configured. */
  metricsSha256?: Uint8Array;
  /** The listener serves TLS with client certificates (then loopback peers get no roles). */
  tls: boolean;
  clock?: () => Date;
  onDenied?: (d: Denial) => void;
}

export interface HttpAuth {
  /** Middleware for one route's row; `ownerOf` gives a message's sender for orOwn rows. */
  guard(rule: RouteRule, ownerOf?: (c: Context) => string | undefined | Promise<string | undefined>): MiddlewareHandler;
  /** The identity a guard established for this request (undefined on open routes). */
  identityOf(c: Context): Identity | undefined;
  /** Reports a refusal decided inside a handler (source claim, break-glass) and answers 403. */
  deny(c: Context, rule: RouteRule, a: Authorization, identity: Identity | undefined): Response;
}

interface NodeSocketEnv {
  incoming?: { socket?: Partial<TLSSocket> & { remoteAddress?: string } };
}

/** "DNS:a, URI:b, IP Address:1.2.3.4" → ["a", "b", "1.2.3.4"]. */
function sanValues(san: string | undefined): string[] {
  if (!san) return [];
  return san
    .split(/,\s*/)
    .map((part) => part.replace(/^[A-Za-z ]+:/, '').trim())
    .filter(Boolean);
}

function identify(c: Context, rule: RouteRule, opts: HttpAuthOptions, now: Date): IdentityResult {
  const header = c.req.header('authorization');
  const socket = (c.env as NodeSocketEnv | undefined)?.incoming?.socket;
  if (header !== undefined && header.trim() !== '') {
    const token = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1];
    // The metrics scrape token is tried only on /metrics, and only when it is not one of our API tokens.
    if (rule.action === 'metrics.read' && opts.metricsSha256 && token && !parseToken(token)) {
      return identityFromMetricsBearer(header, opts.metricsSha256);
    }
    if (!opts.tokens) return { ok: false, reason: 'API tokens are not accepted here' };
    return identityFromBearer(header, opts.tokens, now);
  }
  if (socket && typeof socket.getPeerCertificate === 'function') {
    if (!socket.authorized) return { ok: false, reason: 'the client certificate was not verified', absent: true };
    const cert = socket.getPeerCertificate();
    const cn = cert?.subject?.CN as string | string[] | undefined;
    return identityFromCertificate({ cn: Array.isArray(cn) ? cn[0] : cn, san: sanValues(cert?.subjectaltname) }, opts.access);
  }
  if (!opts.tls && socket?.remoteAddress) return identityFromLoopbackPeer(socket.remoteAddress, opts.access);
  return { ok: false, reason: 'no credentials (client certificate or Authorization: Bearer)', absent: true };
}

const outcome = (code: 'login' | 'throttled', text: string) => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code, details: { text } }],
});

export function createHttpAuth(opts: HttpAuthOptions): HttpAuth {
  const clock = opts.clock ?? (() => new Date());
  const identities = new WeakMap<Request, Identity>();
  const reads = new RateLimiter(opts.access.consentReadsPerMinute);

  const report = (d: Denial) => {
    try {
      opts.onDenied?.(d);
    } catch {
      /* the refusal stands even when its audit entry cannot be written; the caller logs */
    }
  };

  const deny = (c: Context, rule: RouteRule, a: Authorization, identity: Identity | undefined): Response => {
    report({ status: 403, actor: identity?.name, action: a.action, route: routeLabel(rule), reason: a.reason });
    return c.json(forbidden(a.reason).outcome, 403);
  };

  return {
    identityOf: (c) => identities.get(c.req.raw),
    deny,
    guard(rule, ownerOf) {
      return async (c, next) => {
        const action = rule.action;
        if (action === null) return next();
        const now = clock();
        const who = identify(c, rule, opts, now);
        if (!who.ok) {
          report({ status: 401, action, route: routeLabel(rule), reason: who.reason });
          c.header('WWW-Authenticate', 'Bearer realm="darwaza"');
          return c.json(outcome('login', `authentication required: ${who.reason}`), 401);
        }
        const identity = who.identity;
        let a = authorize(identity, action);
        if (!a.allowed && rule.orOwn) {
          const own = authorize(identity, rule.orOwn, { owner: await ownerOf?.(c) });
          // Tell the caller the reason that applies to it: a sender hears about ownership.
          if (own.allowed || identity.roles.includes('sender')) a = own;
        }
        if (!a.allowed) return deny(c, rule, a, identity);
        if (rule.rateLimited) {
          const r = reads.take(`${identity.kind}:${identity.name}`, now.getTime());
          if (!r.ok) {
            const reason = `more than ${opts.access.consentReadsPerMinute} Consent reads a minute (access.consentReadsPerMinute)`;
            report({ status: 429, actor: identity.name, action, route: routeLabel(rule), reason });
            c.header('Retry-After', String(r.retryAfterSeconds));
            return c.json(outcome('throttled', reason), 429);
          }
        }
        identities.set(c.req.raw, identity);
        return next();
      };
    },
  };
}
