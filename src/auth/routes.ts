/**
 * Which action each HTTP route needs: the LAN API and the admin API, one row per route.
 * The apps guard each route with its row, the route matrix in docs/security.md is made
 * from it, and a test sends real requests for every row × role. Pure data.
 *
 * - action null: open (only /healthz and /readyz, for load balancers, and the console's
 *   sign-in, sign-out, pointer pages and static assets; they show no patient data and no
 *   message ids).
 * - orOwn: the identity may also pass with this action when it sent the message itself
 *   (GET /messages/{id}: oversight roles for any message, a sender for its own).
 * - rateLimited: counted against access.consentReadsPerMinute (reading and searching
 *   Consents, against enumeration).
 */
import type { Action } from './roles.js';

export type Api = 'lan' | 'admin';

export interface RouteRule {
  api: Api;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** hono path pattern. */
  path: string;
  action: Action | null;
  orOwn?: Action;
  rateLimited?: boolean;
}

export const ROUTE_RULES: readonly RouteRule[] = [
  { api: 'lan', method: 'POST', path: '/fhir', action: 'fhir.submit' },
  { api: 'lan', method: 'POST', path: '/fhir/:type', action: 'fhir.submit' },
  { api: 'lan', method: 'GET', path: '/fhir/metadata', action: 'fhir.capabilities' },
  { api: 'lan', method: 'POST', path: '/fhir/Consent', action: 'consent.write' },
  { api: 'lan', method: 'PUT', path: '/fhir/Consent/:id', action: 'consent.write' },
  { api: 'lan', method: 'DELETE', path: '/fhir/Consent/:id', action: 'consent.write' },
  { api: 'lan', method: 'GET', path: '/fhir/Consent', action: 'consent.read', rateLimited: true },
  { api: 'lan', method: 'GET', path: '/fhir/Consent/:id', action: 'consent.read', rateLimited: true },
  { api: 'lan', method: 'GET', path: '/fhir/Consent/:id/_history/:vid', action: 'consent.read', rateLimited: true },
  { api: 'lan', method: 'GET', path: '/messages/:id', action: 'message.read.any', orOwn: 'message.read.own' },
  { api: 'admin', method: 'GET', path: '/healthz', action: null },
  { api: 'admin', method: 'GET', path: '/readyz', action: null },
  { api: 'admin', method: 'GET', path: '/metrics', action: 'metrics.read' },
  { api: 'admin', method: 'GET', path: '/status', action: 'status.read' },
  { api: 'admin', method: 'GET', path: '/messages/:id/explain', action: 'audit.explain' },
  // The operator's console (src/console): each page needs the action of what it shows or does.
  { api: 'admin', method: 'GET', path: '/', action: null },
  { api: 'admin', method: 'GET', path: '/console', action: null },
  { api: 'admin', method: 'GET', path: '/console/assets/:name', action: null },
  { api: 'admin', method: 'GET', path: '/console/sign-in', action: null },
  { api: 'admin', method: 'POST', path: '/console/sign-in', action: null },
  { api: 'admin', method: 'POST', path: '/console/sign-out', action: null },
  { api: 'admin', method: 'GET', path: '/console/', action: 'console.view' },
  { api: 'admin', method: 'GET', path: '/console/live', action: 'console.view' },
  { api: 'admin', method: 'GET', path: '/console/messages', action: 'queue.read' },
  { api: 'admin', method: 'GET', path: '/console/messages/:id', action: 'message.read.any' },
  { api: 'admin', method: 'POST', path: '/console/messages/:id/retry', action: 'queue.retry' },
  { api: 'admin', method: 'POST', path: '/console/messages/:id/purge', action: 'queue.purge' },
  { api: 'admin', method: 'GET', path: '/console/consents', action: 'consent.read', rateLimited: true },
  { api: 'admin', method: 'POST', path: '/console/consents', action: 'consent.read', rateLimited: true },
  { api: 'admin', method: 'POST', path: '/console/consents/:id/withdraw', action: 'consent.write' },
  { api: 'admin', method: 'GET', path: '/console/audit', action: 'audit.verify' },
  { api: 'admin', method: 'POST', path: '/console/audit/verify', action: 'audit.verify' },
  { api: 'admin', method: 'GET', path: '/console/audit/export', action: 'audit.export' },
  { api: 'admin', method: 'POST', path: '/console/audit/disclosures', action: 'audit.disclosures' },
  { api: 'admin', method: 'GET', path: '/console/audit/reports', action: 'audit.export' },
  { api: 'admin', method: 'GET', path: '/console/policy', action: 'console.view' },
];

/** The row for a route; throws for a route the table does not know (a wiring mistake, caught by tests). */
export function routeRule(api: Api, method: RouteRule['method'], path: string): RouteRule {
  const r = ROUTE_RULES.find((x) => x.api === api && x.method === method && x.path === path);
  if (!r) throw new Error(`no access rule for ${api} ${method} ${path}`);
  return r;
}

export const routeLabel = (r: Pick<RouteRule, 'method' | 'path'>) => `${r.method} ${r.path}`;
