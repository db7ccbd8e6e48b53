/**
 * Checks for FHIR JSON arriving from the LAN: the right resourceType, well-formed
 * Bundles, bounded nesting (cheap, clear messages), then the structure against the R4
 * StructureDefinitions (structure.ts), so no element outside FHIR R4 reaches a destination.
 */
import { createRequire } from 'node:module';
import type { FhirResource } from '../model/index.js';
import { OperationOutcomeError, structureError, badRequest, methodNotAllowed, unprocessable, type Outcome } from './outcomes.js';
import { validateStructure } from './structure.js';

// Literal require() so esbuild bundles the model; ESM (tests) has no global require.
const r4 = (
  typeof require === 'function' ? require('fhirpath/fhir-context/r4') : createRequire(import.meta.url)('fhirpath/fhir-context/r4')
) as { type2Parent: Record<string, string> };

/** Every concrete R4 resource type, from the FHIRPath R4 model. */
export const RESOURCE_TYPES: ReadonlySet<string> = new Set(
  Object.entries(r4.type2Parent)
    .filter(([name, parent]) => (parent === 'DomainResource' || parent === 'Resource') && name !== 'DomainResource')
    .map(([name]) => name),
);

export const BUNDLE_TYPES = ['batch', 'transaction', 'message', 'collection'] as const;
export type AcceptedBundleType = (typeof BUNDLE_TYPES)[number];

export interface ShapeLimits {
  maxDepth: number;
  maxEntries: number;
}

/** The refusal for a body nested past the limit (from the bytes, or from a parsed value). */
export const tooDeep = (maxDepth: number) => badRequest(`The JSON nests deeper than ${maxDepth} levels (limits.maxDepth)`, undefined, 'too-costly');

export const DEFAULT_SHAPE_LIMITS: ShapeLimits = { maxDepth: 64, maxEntries: 10_000 };

/**
 * Measures nesting depth without recursion (JSON.parse accepts 10,000-deep arrays;
 * a recursive walk over them would overflow the stack).
 */
export function nestingDepthExceeds(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > maxDepth) return true;
    if (Array.isArray(v)) for (const x of v) stack.push([x, d + 1]);
    else for (const k in v as object) stack.push([(v as Record<string, unknown>)[k], d + 1]);
  }
  return false;
}

const fail = (o: ReturnType<typeof badRequest>): never => {
  throw new OperationOutcomeError(o);
};

/** Checks one resource's top-level shape (used for Bundle entries and single posts). */
export function checkResource(value: unknown, where: string): FhirResource {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(structureError(`${where} must be a JSON object (a FHIR resource)`, where));
  }
  const rt = (value as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string') return fail(structureError(`${where}.resourceType is missing`, `${where}.resourceType`));
  if (!RESOURCE_TYPES.has(rt)) {
    return fail(unprocessable(`${where}.resourceType "${rt.slice(0, 64)}" is not a FHIR R4 resource type`, `${where}.resourceType`, 'not-supported'));
  }
  return value as FhirResource;
}

/**
 * Validates a parsed body for POST /fhir (a Bundle) or POST /fhir/{type}.
 * Throws OperationOutcomeError with the right status and the element at fault.
 */
export function validateInbound(body: unknown, pathType: string | undefined, limits: ShapeLimits = DEFAULT_SHAPE_LIMITS): FhirResource {
  if (nestingDepthExceeds(body, limits.maxDepth)) {
    fail(tooDeep(limits.maxDepth));
  }
  const resource = checkResource(body, pathType ?? 'Bundle');
  if (pathType === undefined) {
    if (resource.resourceType !== 'Bundle') {
      fail(unprocessable(`POST /fhir expects a Bundle, got ${resource.resourceType}; post single resources to /fhir/${resource.resourceType}`, 'resourceType'));
    }
  } else if (resource.resourceType !== pathType) {
    fail(badRequest(`The URL names ${pathType} but the body is a ${resource.resourceType}`, 'resourceType'));
  }
  if (resource.resourceType === 'Bundle') checkBundle(resource, limits);
  // Shape first (cheap, and the messages above are clearer), then the R4 definitions.
  validateStructure(resource);
  return resource;
}

function checkBundle(bundle: FhirResource, limits: ShapeLimits): void {
  const type = bundle.type;
  if (typeof type !== 'string' || !(BUNDLE_TYPES as readonly string[]).includes(type)) {
    fail(unprocessable(`Bundle.type must be one of ${BUNDLE_TYPES.join(', ')}`, 'Bundle.type', 'value'));
  }
  const entries = bundle.entry;
  if (entries === undefined) {
    if (type === 'message') fail(unprocessable('A message Bundle must start with a MessageHeader', 'Bundle.entry[0]'));
    return;
  }
  if (!Array.isArray(entries)) fail(structureError('Bundle.entry must be an array', 'Bundle.entry'));
  const list = entries as unknown[];
  if (list.length > limits.maxEntries) fail(unprocessable(`Bundle has more than ${limits.maxEntries} entries`, 'Bundle.entry', 'too-costly'));
  list.forEach((entry, i) => {
    const where = `Bundle.entry[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(structureError(`${where} must be an object`, where));
    const res = (entry as { resource?: unknown }).resource;
    // A batch entry that reads or deletes is answered on its own (405), so it needs no resource.
    if (res === undefined && type === 'batch' && batchEntryRefusal(entry, i)) return;
    if (res === undefined) fail(structureError(`${where}.resource is missing`, `${where}.resource`));
    checkResource(res, `${where}.resource`);
  });
  if (type === 'message') {
    if (!list.length) fail(unprocessable('A message Bundle must start with a MessageHeader; it has no entries', 'Bundle.entry[0]'));
    const first = (list[0] as { resource: FhirResource }).resource;
    if (first.resourceType !== 'MessageHeader') fail(unprocessable('A message Bundle must start with a MessageHeader', 'Bundle.entry[0].resource'));
  }
}

/** Request methods a batch entry may carry to be judged as a submission. */
const SUBMITTING_METHODS = new Set(['POST', 'PUT']);

/**
 * A batch entry that asks to read, delete or patch (request.method GET, HEAD, DELETE, PATCH):
 * the gateway stores nothing to read and forwards submissions only, so that entry alone is
 * answered 405 while the batch's other entries are judged. Undefined for a submitting entry.
 */
export function batchEntryRefusal(entry: unknown, index: number): Outcome | undefined {
  const method = (entry as { request?: { method?: unknown } } | null)?.request?.method;
  if (typeof method !== 'string' || SUBMITTING_METHODS.has(method)) return undefined;
  // The method is echoed only when it is one (the field is sender text).
  const o = methodNotAllowed(`${/^[A-Z]{3,7}$/.test(method) ? method : 'This request method'} in a batch is not offered: this gateway forwards submissions (POST, PUT) and stores nothing to read or delete`);
  return { ...o, outcome: { ...o.outcome, issue: o.outcome.issue.map((i) => ({ ...i, expression: [`Bundle.entry[${index}].request.method`] })) } };
}

/** The resources inside a message: the Bundle's entries, or the resource itself. */
export function resourcesOf(resource: FhirResource): FhirResource[] {
  if (resource.resourceType !== 'Bundle') return [resource];
  const entries = (resource.entry as { resource?: FhirResource }[] | undefined) ?? [];
  // Batch entries that only read or delete carry no resource.
  return entries.flatMap((e) => (e.resource ? [e.resource] : []));
}
