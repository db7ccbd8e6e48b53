/**
 * The PHI-free consent context stored with each queued item, and back to a request
 * at send time (the dispatcher's re-check).
 */
import type { Classification, Destination, PurposeOfUse } from '../model/index.js';
import type { ConsentContext, ConsentRequest } from './types.js';

/** Builds the stored context from what the pipeline knows at arrival. */
export function consentContext(
  classification: Pick<Classification, 'categories' | 'labels' | 'resourceTypes' | 'ageYears'>,
  destination: Pick<Destination, 'name' | 'organization'>,
  purpose: PurposeOfUse,
  extra: Pick<ConsentContext, 'scope' | 'dataPeriod' | 'dataReferences'> = {},
): ConsentContext {
  return {
    purpose,
    categories: [...classification.categories],
    labels: classification.labels.map((l) => ({ ...(l.system ? { system: l.system } : {}), ...(l.code ? { code: l.code } : {}) })),
    resourceTypes: [...classification.resourceTypes],
    actor: { destination: destination.name, ...(destination.organization ? { organization: destination.organization } : {}) },
    ageYears: classification.ageYears,
    ...extra,
  };
}

/** Turns a stored context into a request at time `now` with the destination's current default. */
export function requestFromContext(
  context: ConsentContext,
  now: Date,
  defaultWhenNone: 'deny' | 'permit',
  options: Pick<ConsentRequest, 'allowPartial' | 'timezone'> = {},
): ConsentRequest {
  return { ...context, now, defaultWhenNone, ...options };
}

/** The destination's consent model → what applies when no consent speaks. Unknown → deny. */
export function defaultForModel(model: 'opt-in' | 'opt-out' | undefined): 'deny' | 'permit' {
  return model === 'opt-out' ? 'permit' : 'deny';
}
