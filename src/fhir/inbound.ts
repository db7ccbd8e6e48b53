/**
 * The CPU-heavy checks of a FHIR JSON body, as one pure function of its bytes: nesting
 * pre-scan, UTF-8, JSON, shape and R4 structure (validateInbound). The same checks and
 * refusals wherever they run (the LAN app on the main thread, or a pool worker), so the
 * answer does not depend on where.
 */
import { OperationOutcomeError, badRequest } from './outcomes.js';
import { bytesNestDeeper } from './depth.js';
import { tooDeep, validateInbound, type ShapeLimits } from './validate.js';
import type { FhirResource } from '../model/index.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and parses a body (refusals as OperationOutcomeError). */
export function parseBody(bytes: Uint8Array, shape: ShapeLimits): unknown {
  // Before parsing: a deeply nested body costs seconds in JSON.parse and is refused in one pass here.
  if (bytesNestDeeper(bytes, shape.maxDepth)) throw new OperationOutcomeError(tooDeep(shape.maxDepth));
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

/** parseBody, then the resource checks for POST /fhir (pathType undefined) or POST /fhir/{type}. */
export function checkInbound(bytes: Uint8Array, pathType: string | undefined, shape: ShapeLimits): FhirResource {
  return validateInbound(parseBody(bytes, shape), pathType, shape);
}
