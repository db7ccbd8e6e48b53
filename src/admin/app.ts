/**
 * The admin API (its own listener, default 127.0.0.1:9090): health, readiness,
 * Prometheus metrics, queue status and policy explanations for stored messages.
 * Errors are FHIR OperationOutcomes, answered like the LAN API's.
 *
 * Every route but /healthz and /readyz needs an identity with the route's action (src/auth
 * route table): an API token, a client certificate, the metrics token on /metrics, or a
 * loopback peer when access.loopback grants roles. Without credentials: 401.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { notFound, outcomeErrorHandler, replyOutcome, type ServerErrorObserver } from '../fhir/index.js';
import type { Metrics } from './metrics.js';
import { routeRule, type HttpAuth, type RouteRule } from '../auth/index.js';

export interface AdminOptions {
  metrics: Metrics;
  /** Refreshes gauges (queue depth…) just before a scrape. */
  beforeScrape?: () => void | Promise<void>;
  ready: () => { ok: boolean; reasons: string[] };
  status?: () => unknown;
  /** Resolves to undefined when there is no such message. */
  explain?: (messageId: string) => Promise<unknown> | unknown;
  /** An unexpected failure, with the error id its 500 answer carries (log it PHI-free). */
  onServerError?: ServerErrorObserver;
  /** The per-route guard. Without it every route is open: for tests only; the gateway always passes one. */
  auth?: HttpAuth;
  /** The operator's console (src/console), mounted at / and /console/…; it guards its own routes. */
  console?: Hono;
}

export function createAdminApp(opts: AdminOptions) {
  const app = new Hono();
  app.onError(outcomeErrorHandler(opts.onServerError));
  const open: MiddlewareHandler = async (_c, next) => next();
  const guard = (path: string): MiddlewareHandler => (opts.auth ? opts.auth.guard(routeRule('admin', 'GET' as RouteRule['method'], path)) : open);
  app.get('/healthz', guard('/healthz'), (c) => c.json({ status: 'ok' }));
  app.get('/readyz', guard('/readyz'), (c) => {
    const r = opts.ready();
    return c.json({ status: r.ok ? 'ready' : 'not-ready', reasons: r.reasons }, r.ok ? 200 : 503);
  });
  app.get('/metrics', guard('/metrics'), async (c) => {
    await opts.beforeScrape?.();
    c.header('Content-Type', opts.metrics.registry.contentType);
    return c.body(await opts.metrics.registry.metrics());
  });
  app.get('/status', guard('/status'), async (c) => c.json(((await opts.status?.()) ?? {}) as object));
  app.get('/messages/:id/explain', guard('/messages/:id/explain'), async (c) => {
    const e = await opts.explain?.(c.req.param('id'));
    if (e === undefined) return replyOutcome(c, notFound('No message with this id'));
    return c.json(e as object);
  });
  if (opts.console) app.route('/', opts.console);
  app.notFound((c) => replyOutcome(c, notFound()));
  return app;
}
