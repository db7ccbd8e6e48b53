/**
 * FHIR handlers for /fhir/Consent that do not know the HTTP server (medplum style):
 * a plain request in, { status, body } out for success. A refusal is thrown as an
 * OperationOutcomeError (src/fhir/outcomes decides its status); anything else is
 * thrown unchanged, for the server's one error handler to answer with an error id.
 *   POST /fhir/Consent → post(body) · PUT /fhir/Consent/:id → put(id, body)
 *   DELETE /fhir/Consent/:id → delete(id) · GET /fhir/Consent/:id → read(id)
 *   GET /fhir/Consent/:id/_history/:vid → read(id, vid) · GET /fhir/Consent?patient=… → search(query)
 */
import type { FhirResource } from '../model/index.js';
import { OperationOutcomeError, allOk, badRequest, notFound, serverError, unprocessable, type IssueCode } from '../fhir/index.js';
import { ConsentValidationError } from './compile.js';
import { ConsentNotFoundError, ConsentUnreadableError } from './registry.js';
import type { ConsentStore } from './ports.js';

export interface HandlerResult {
  status: number;
  body: FhirResource;
}

export type SearchQuery = Record<string, string | string[] | undefined>;

/**
 * actor: the authenticated identity that writes (named in the audit entry). source: the sender as
 * messages know it (the identity, or an integration engine's claimed system); it namespaces weak
 * patient ids (Patient/123); without it the actor does.
 */
export interface ConsentHandlers {
  post(body: unknown, actor?: string, source?: string): Promise<HandlerResult>;
  put(id: string, body: unknown, actor?: string, source?: string): Promise<HandlerResult>;
  delete(id: string, actor?: string): Promise<HandlerResult>;
  read(id: string, version?: string): Promise<HandlerResult>;
  search(query: SearchQuery, source?: string): Promise<HandlerResult>;
}

/** The registry's own errors as outcomes; any other error passes through untouched. */
function asOutcomeError(err: unknown): unknown {
  if (err instanceof ConsentValidationError) return new OperationOutcomeError(unprocessable(err.message, err.element, 'invalid'), { cause: err });
  if (err instanceof ConsentNotFoundError) return new OperationOutcomeError(notFound(err.message), { cause: err });
  // A stored version we cannot read is our failure (altered at rest, or no key here): a 500 with an error id.
  if (err instanceof ConsentUnreadableError) return new OperationOutcomeError(serverError(err.message, 'security'), { cause: err });
  return err;
}

function guarded<A extends unknown[]>(fn: (...args: A) => Promise<HandlerResult>): (...args: A) => Promise<HandlerResult> {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw asOutcomeError(err);
    }
  };
}

const refuse = (text: string, expression?: string, code?: IssueCode): never => {
  throw new OperationOutcomeError(badRequest(text, expression, code));
};

const values = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

/** The handlers over the registry's async port (SQLite: sqliteConsentStore(registry); PostgreSQL: postgresConsentStore). */
export function consentHandlers(registry: ConsentStore): ConsentHandlers {
  const stored = async (id: string, version: number, created: boolean): Promise<HandlerResult> => {
    const s = await registry.get(id, version);
    if (!s) throw new ConsentNotFoundError(id);
    return { status: created ? 201 : 200, body: s.resource };
  };
  return {
    post: guarded(async (body: unknown, actor?: string, source?: string) => {
      const r = await registry.put(body, { ...(actor ? { actor } : {}), ...((source ?? actor) ? { source: source ?? actor } : {}) });
      return stored(r.id, r.version, r.version === 1 && !r.unchanged);
    }),
    put: guarded(async (id: string, body: unknown, actor?: string, source?: string) => {
      const r = await registry.put(body, { id, ...(actor ? { actor } : {}), ...((source ?? actor) ? { source: source ?? actor } : {}) });
      return stored(r.id, r.version, r.version === 1 && !r.unchanged);
    }),
    delete: guarded(async (id: string, actor?: string) => {
      const r = await registry.withdraw(id, 'DELETE', actor);
      return { status: 200, body: allOk(`Consent/${r.id} withdrawn (version ${r.version}, status inactive)`) };
    }),
    read: guarded(async (id: string, version?: string) => {
      const v = version === undefined ? undefined : Number(version);
      if (v !== undefined && !Number.isInteger(v)) refuse('the version id must be a whole number', 'Consent.meta.versionId');
      const s = await registry.get(id, v);
      if (!s) throw new ConsentNotFoundError(id);
      return { status: 200, body: s.resource };
    }),
    search: guarded(async (query: SearchQuery, source?: string) => {
      const unknown = Object.keys(query).filter((k) => !['patient', 'status', '_format'].includes(k));
      if (unknown.length > 0) refuse(`search parameter not supported: ${unknown.join(', ')}`, undefined, 'not-supported');
      const patientIds = values(query.patient);
      if (patientIds.length === 0) refuse('search needs a patient parameter (reference, id or system|value)', undefined, 'required');
      const status = values(query.status)[0];
      return { status: 200, body: await registry.search({ patientIds, ...(status ? { status } : {}), ...(source ? { source } : {}) }) };
    }),
  };
}
