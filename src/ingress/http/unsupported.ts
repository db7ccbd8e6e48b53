/**
 * Plain words for the FHIR interactions darwaza does not offer: it is a gateway, not a
 * FHIR store, so reads, searches, updates, patches, deletes and history on clinical types
 * answer 405 with an OperationOutcome that says so, and Allow names what the URL takes.
 * Registered after every real route, so it only sees what nothing else answered. The
 * texts name the interaction and the resource type (a checked R4 name), never an id or
 * a query (they may carry patient identifiers).
 */
import type { Context, Hono } from 'hono';
import { GATEWAY_NOT_STORE, OperationOutcomeError, RESOURCE_TYPES, methodNotAllowed, notFound } from '../../fhir/index.js';

function interactionOf(method: string, parts: string[]): string {
  const history = parts.includes('_history');
  if (parts[0] === '_search') return 'search-system';
  if (method === 'GET' || method === 'HEAD') {
    if (history) return 'history';
    if (parts.length === 0) return 'search-system';
    if (parts.length === 1 || parts[1] === '_search') return 'search-type';
    return 'read';
  }
  if (method === 'POST' && parts[1] === '_search') return 'search-type';
  if (method === 'POST') return 'POST to an instance or operation URL';
  if (method === 'PUT') return 'update';
  if (method === 'PATCH') return 'patch';
  if (method === 'DELETE') return parts.length <= 1 ? 'conditional delete' : 'delete';
  return method;
}

export function refuseUnsupported(app: Hono, base: string): void {
  const handler = (c: Context): Response => {
    const path = new URL(c.req.url).pathname;
    const parts = path.slice(base.length).split('/').filter(Boolean);
    // [base]/_history and [base]/_search are system-level; other names must be R4 types.
    const system = parts[0]?.startsWith('_') === true;
    const type = system ? undefined : parts[0];
    if (type !== undefined && !RESOURCE_TYPES.has(type)) {
      throw new OperationOutcomeError(notFound(`"${type.slice(0, 64)}" is not a FHIR R4 resource type`));
    }
    const interaction = interactionOf(c.req.method, parts);
    const where = type ? ` on ${type}` : ' at the base';
    // 405 must say what is allowed: POST at the base and on a type; nothing on an instance.
    c.header('Allow', parts.length === 0 || (parts.length === 1 && !system) ? 'POST' : '');
    throw new OperationOutcomeError(methodNotAllowed(`${interaction}${where} is not supported: ${GATEWAY_NOT_STORE}`));
  };
  app.all(base, handler);
  app.all(`${base}/*`, handler);
}
