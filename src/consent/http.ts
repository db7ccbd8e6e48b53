/**
 * FHIR handlers for /fhir/Consent that do not know the HTTP server (medplum style):
 * a plain request in, { status, body } out, body a resource or an OperationOutcome.
 * The lead mounts them on hono:
 *   POST /fhir/Consent → post(body) · PUT /fhir/Consent/:id → put(id, body)
 *   DELETE /fhir/Consent/:id → delete(id) · GET /fhir/Consent/:id → read(id)
 *   GET /fhir/Consent/:id/_history/:vid → read(id, vid) · GET /fhir/Consent?patient=… → search(query)
 */
import type { FhirResource } from '../model/index.js';
import { ConsentValidationError } from './compile.js';
import { ConsentNotFoundError, ConsentUnreadableError, type ConsentRegistry } from './registry.js';

export interface HandlerResult {
  status: number;
  body: FhirResource;
}

export type SearchQuery = Record<string, string | string[] | undefined>;

export interface ConsentHandlers {
  post(body: unknown): HandlerResult;
  put(id: string, body: unknown): HandlerResult;
  delete(id: string): HandlerResult;
  read(id: string, version?: string): HandlerResult;
  search(query: SearchQuery): HandlerResult;
}

export function operationOutcome(
  severity: 'error' | 'information',
  code: string,
  diagnostics: string,
  expression?: string,
): FhirResource {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, diagnostics, ...(expression ? { expression: [expression] } : {}) }],
  };
}

function failure(err: unknown): HandlerResult {
  if (err instanceof ConsentValidationError) {
    return { status: 422, body: operationOutcome('error', 'invalid', err.message, err.element) };
  }
  if (err instanceof ConsentNotFoundError) {
    return { status: 404, body: operationOutcome('error', 'not-found', err.message) };
  }
  if (err instanceof ConsentUnreadableError) {
    return { status: 500, body: operationOutcome('error', 'security', err.message) };
  }
  // Never echo the error: it may carry content. The lead's onError logs it through describeError.
  return { status: 500, body: operationOutcome('error', 'exception', 'the consent registry could not complete the request') };
}

const values = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

export function consentHandlers(registry: ConsentRegistry): ConsentHandlers {
  const stored = (id: string, version: number, created: boolean): HandlerResult => {
    const s = registry.get(id, version);
    if (!s) return failure(new ConsentNotFoundError(id));
    return { status: created ? 201 : 200, body: s.resource };
  };
  return {
    post(body) {
      try {
        const r = registry.put(body);
        return stored(r.id, r.version, r.version === 1 && !r.unchanged);
      } catch (err) {
        return failure(err);
      }
    },
    put(id, body) {
      try {
        const r = registry.put(body, { id });
        return stored(r.id, r.version, r.version === 1 && !r.unchanged);
      } catch (err) {
        return failure(err);
      }
    },
    delete(id) {
      try {
        const r = registry.withdraw(id, 'DELETE');
        return {
          status: 200,
          body: operationOutcome('information', 'informational', `Consent/${r.id} withdrawn (version ${r.version}, status inactive)`),
        };
      } catch (err) {
        return failure(err);
      }
    },
    read(id, version) {
      try {
        const v = version === undefined ? undefined : Number(version);
        if (v !== undefined && !Number.isInteger(v)) {
          return { status: 400, body: operationOutcome('error', 'invalid', 'the version id must be a whole number', 'Consent.meta.versionId') };
        }
        const s = registry.get(id, v);
        return s ? { status: 200, body: s.resource } : failure(new ConsentNotFoundError(id));
      } catch (err) {
        return failure(err);
      }
    },
    search(query) {
      try {
        const unknown = Object.keys(query).filter((k) => !['patient', 'status', '_format'].includes(k));
        if (unknown.length > 0) {
          return { status: 400, body: operationOutcome('error', 'not-supported', `search parameter not supported: ${unknown.join(', ')}`) };
        }
        const patientIds = values(query.patient);
        if (patientIds.length === 0) {
          return { status: 400, body: operationOutcome('error', 'required', 'search needs a patient parameter (reference, id or system|value)') };
        }
        const status = values(query.status)[0];
        return { status: 200, body: registry.search({ patientIds, ...(status ? { status } : {}) }) };
      } catch (err) {
        return failure(err);
      }
    },
  };
}
