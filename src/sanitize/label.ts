/**
 * The form a de-identified result leaves in. A single resource cannot carry its
 * Provenance, so both travel in a collection Bundle; and when the policy judged the
 * data in its de-identified form, the labels on the wire say so too (confidentiality
 * L + ANONYED), not the N/R that classification gave the identifiable input.
 */
import { SYSTEMS, type Coding, type FhirResource } from '../model/index.js';
import type { SanitizeResult } from './engine.js';

const DEIDENTIFIED_LABELS: Coding[] = [
  { system: SYSTEMS.confidentiality, code: 'L' },
  { system: SYSTEMS.observationValue, code: 'ANONYED' },
];

/** Confidentiality replaced by L and ANONYED added, on the resource and on each Bundle entry's resource. */
export function labelDeidentified(resource: FhirResource): FhirResource {
  const relabel = (r: FhirResource): FhirResource => {
    const kept = (r.meta?.security ?? []).filter((c) => c.system !== SYSTEMS.confidentiality && !(c.system === SYSTEMS.observationValue && c.code === 'ANONYED'));
    return { ...r, meta: { ...r.meta, security: [...DEIDENTIFIED_LABELS, ...kept] } };
  };
  const out = relabel(resource);
  if (Array.isArray(out.entry)) out.entry = out.entry.map((e: { resource?: FhirResource }) => (e?.resource ? { ...e, resource: relabel(e.resource) } : e));
  return out;
}

/** The resource with its Provenance: a Bundle already holds it as an entry; a single resource is bundled with it. */
export function withProvenance(result: Pick<SanitizeResult, 'resource' | 'provenance'>): FhirResource {
  const out = result.resource;
  if (!result.provenance || out.resourceType === 'Bundle') return out;
  return { resourceType: 'Bundle', type: 'collection', entry: [{ resource: out }, { resource: result.provenance }] };
}

/** What leaves for a destination: with its Provenance, and labelled de-identified when the policy says the profile de-identifies. */
export function deidentifiedForm(result: Pick<SanitizeResult, 'resource' | 'provenance'>, opts: { deidentifies: boolean }): FhirResource {
  const out = withProvenance(result);
  return opts.deidentifies ? labelDeidentified(out) : out;
}
