/**
 * The admin API (its own listener, default 127.0.0.1:9090): health, readiness,
 * Prometheus metrics, queue status and policy explanations for stored messages.
 */
import { Hono } from 'hono';
import type { Metrics } from './metrics.js';

export interface AdminOptions {
  metrics: Metrics;
  /** Refreshes gauges (queue depth…) just before a scrape. */
  beforeScrape?: () => void | Promise<void>;
  ready: () => { ok: boolean; reasons: string[] };
  status?: () => unknown;
  /** Resolves to undefined when there is no such message. */
  explain?: (messageId: string) => Promise<unknown> | unknown;
}

export function createAdminApp(opts: AdminOptions) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const r = opts.ready();
    return c.json({ status: r.ok ? 'ready' : 'not-ready', reasons: r.reasons }, r.ok ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    await opts.beforeScrape?.();
    c.header('Content-Type', opts.metrics.registry.contentType);
    return c.body(await opts.metrics.registry.metrics());
  });
  app.get('/status', async (c) => c.json(((await opts.status?.()) ?? {}) as object));
  app.get('/messages/:id/explain', async (c) => {
    const e = await opts.explain?.(c.req.param('id'));
    if (e === undefined) return c.json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', details: { text: 'No message with this id' } }] }, 404);
    return c.json(e as object);
  });
  app.notFound((c) => c.json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', details: { text: 'Not found' } }] }, 404));
  return app;
}
