/**
 * The consent question for one message and one destination. consentRequest is the one
 * builder: the pipeline asks it at arrival and the send-time re-check asks it again from
 * the stored, PHI-free facts, so both ask the same question.
 */
import type { Classification, Destination, PurposeOfUse } from '../model/index.js';
import type { ConsentContext, ConsentRequest } from './types.js';

export interface ConsentRequestInput {
  classification: Pick<Classification, 'categories' | 'labels' | 'resourceTypes' | 'ageYears'>;
  destination: Pick<Destination, 'name' | 'organization'> & { consentModel?: 'opt-in' | 'opt-out' };
  purpose: PurposeOfUse;
  /** When the data happened (for consent dataPeriod provisions). */
  dataPeriod?: { start?: string; end?: string };
  now: Date;
  /** The appliance's zone for date-only periods (config.timezone). */
  timezone: string;
}

/** The consent request for one message and destination, at arrival and at send time alike. */
export function consentRequest(input: ConsentRequestInput): ConsentRequest {
  const context = consentContext(input.classification, input.destination, input.purpose, input.dataPeriod ? { dataPeriod: input.dataPeriod } : {});
  return requestFromContext(context, input.now, defaultForModel(input.destination.consentModel), { timezone: input.timezone });
}

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
