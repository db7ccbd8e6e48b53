/**
 * The consent folder's values: what evaluation is asked (ConsentRequest), what a
 * Consent resource compiles to (CompiledConsent), and what the registry returns.
 */
import type { Category, Coding, FhirResource, PurposeOfUse } from '../model/index.js';
import type { CompiledPeriod } from './time.js';

/** The consent statuses of FHIR R4. Only `active` consents are evaluated. */
export const CONSENT_STATUSES = ['draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

/** Statuses that end a consent (a new version with one of them is a withdrawal). */
export const WITHDRAWN_STATUSES: readonly ConsentStatus[] = ['rejected', 'inactive', 'entered-in-error'];

/** v3-ParticipationType codes a destination is taken to act in when the request names none. */
export const DEFAULT_RECIPIENT_ROLES = ['IRCP', 'PRCP'] as const;
/** consentaction codes a gateway disclosure counts as (the recipient accesses and uses what is disclosed). */
export const DEFAULT_ACTIONS = ['disclose', 'access', 'use'] as const;
/** Under this age (from Patient.birthDate) a consent needs a RelatedPerson performer to release data. */
export const DEFAULT_MINOR_AGE = 18;

export interface ConsentActor {
  /** The destination's configured name. */
  destination: string;
  /** Destination.organization: the organisation id used as the consent actor. */
  organization?: string;
  /** v3-ParticipationType codes the destination acts in; default DEFAULT_RECIPIENT_ROLES. */
  roles?: string[];
}

/** One question to evaluation. Holds no patient identifier: the patient is chosen by the consents passed. */
export interface ConsentRequest {
  actor: ConsentActor;
  purpose: PurposeOfUse;
  /** Consent.scope required (consentscope code); default: by purpose (see acceptedScopes). */
  scope?: string;
  categories: Category[];
  labels: Coding[];
  resourceTypes: string[];
  /** Span of the clinical dates of the data (FHIR dateTimes). Unknown → deny-provisions with dataPeriod match, permits don't. */
  dataPeriod?: { start?: string; end?: string };
  /** Resource references in the message ("Observation/1"), for provision.data. Unknown → as dataPeriod. */
  dataReferences?: string[];
  /** consentaction codes this disclosure counts as; default DEFAULT_ACTIONS. */
  actions?: string[];
  ageYears: number | null;
  now: Date;
  /** What applies when no consent speaks (the destination's consent model: opt-in → deny). */
  defaultWhenNone: 'deny' | 'permit';
  /**
   * True when the caller can honour a `redact` obligation: a partly permitted request then answers
   * permit-with-obligations. Default false: a partly permitted request is denied (unknown means deny).
   */
  allowPartial?: boolean;
  /** Appliance timezone for the request's date-only dataPeriod values; default Asia/Karachi. */
  timezone?: string;
}

/**
 * The PHI-free context the pipeline stores with each queued item so that the
 * dispatcher can re-evaluate at send time (requestFromContext turns it back into a request).
 */
export interface ConsentContext {
  purpose: PurposeOfUse;
  scope?: string;
  categories: Category[];
  labels: Coding[];
  resourceTypes: string[];
  actor: ConsentActor;
  ageYears: number | null;
  dataPeriod?: { start?: string; end?: string };
  dataReferences?: string[];
}

export interface CompiledActor {
  /** Normalised reference strings: "Organization/x", identifier values, lower-cased display. */
  references: string[];
  identifierValues: string[];
  display?: string;
  roles: string[];
}

export interface CompiledProvision {
  /** FHIRPath-like location, e.g. "provision.provision[1]". */
  path: string;
  type: 'permit' | 'deny';
  period?: CompiledPeriod;
  actors?: CompiledActor[];
  actions?: string[];
  labels?: { system?: string; code: string }[];
  purposes?: string[];
  classes?: string[];
  codes?: string[];
  dataPeriod?: CompiledPeriod;
  /** Normalised references ("Observation/1"). */
  data?: string[];
  /** Categories this provision names through securityLabel/class/code. */
  namesCategories: Category[];
  children: CompiledProvision[];
}

export interface CompiledConsent {
  id: string;
  version: number;
  status: ConsentStatus;
  /** consentscope codes of Consent.scope. */
  scopes: string[];
  /** True when a performer is a RelatedPerson (guardian/caregiver). */
  guardianPerformer: boolean;
  root: CompiledProvision;
}

/** A consent version as the registry returns it from lookups. */
export interface StoredConsent {
  id: string;
  version: number;
  status: ConsentStatus;
  /** ISO instant the gateway received this version. */
  receivedAt: string;
  compiled: CompiledConsent;
}

export interface StoredConsentWithResource extends StoredConsent {
  resource: FhirResource;
}
