/**
 * The stages a message passes per destination, as injected functions. The gateway's
 * composition root (src/gateway) plugs in the real ones; tests and the spine can use
 * PASS_THROUGH_STAGES. Each stage is a decision or a transformation; the state some of
 * them read (the policy in force, the consent registry, keys) is bound in by the composition root.
 */
import type { ConsentRequest, PatientView, StoredConsent } from '../consent/index.js';
import type {
  AuditEvent,
  Classification,
  Coding,
  ConsentDecision,
  Destination,
  FhirResource,
  PolicyDecision,
  PurposeOfUse,
} from '../model/index.js';

export interface PolicyInput {
  destinationName: string;
  destination?: Destination;
  purpose: PurposeOfUse;
  classification: Classification;
  source: string;
  now: Date;
  /** The form leaving for this destination holds content that could not be classified (HL7 v2 outside the understood segments). */
  opaque?: boolean;
}

/** One consent question: the patient's tokens and the request consentRequest built. */
export interface ConsentCheck {
  patientTokens: string[];
  request: ConsentRequest;
  /** The patient's consents as read for this message (a PatientView); absent: the stage asks its registry. */
  consents?: readonly StoredConsent[];
}

export interface SealInput {
  messageId: string;
  destination: Destination & { seal?: boolean };
  purpose: PurposeOfUse;
  policySha256: string;
  createdAt: string;
  payload: Uint8Array;
  payloadType: string;
  sealRequired: boolean;
  /** The security labels the data carries (for the envelope's metadata, whatever the payload format). */
  labels?: Coding[];
}

export interface Stages {
  /** `v2`: the original HL7 v2 text, read too (segments the mapping leaves out still count). */
  classify(resource: FhirResource, now: Date, v2?: string): Classification;
  /** Per-entry classification of a Bundle (index → classification), to name the entry at fault. */
  classifyEntries(resource: FhirResource, now: Date): Classification[];
  applyLabels(resource: FhirResource, labels: Coding[]): FhirResource;
  decide(input: PolicyInput): PolicyDecision;
  checkConsent(input: ConsentCheck): ConsentDecision;
  sanitize(profile: string, destination: Destination, resource: FhirResource): FhirResource;
  /** v2 form for destinations that take HL7 v2: sanitized in v2 terms when required. */
  sanitizeV2(text: string, destination: Destination): string;
  seal(input: SealInput): { body: Uint8Array; contentType: string };
  /** Keyed hash of a patient id string (no PHI leaves this function). */
  tokenize(id: string): string;
  /**
   * The patient's tokens from every id string classification found (normalised the way consents are;
   * weak local ids namespaced by `source`), the identity key's (ids[0]) first.
   */
  patientTokens(ids: string[], source: string): string[];
  /**
   * The patient's age: from `birthDate` (then remembered), else from a birth date seen before; null when unknown.
   * With a view, the remembered date is the view's and remembering is a write recorded in it.
   */
  recallAge?(patientTokens: string[], birthDate: string | undefined, now: Date, view?: PatientView): number | null;
  /**
   * For stores read asynchronously (PostgreSQL): the patient's state for one message, read before
   * its decision (tokens with weak ids resolved, consents, birth date). Absent: the stages read a
   * synchronous store themselves.
   */
  patientView?(ids: string[], source: string): Promise<PatientView>;
  /** Writes what a decision learned (bindings, birth dates); false when a binding it assumed lost a race. */
  applyPatientWrites?(writes: PatientView['writes']): Promise<boolean>;
  /** The period the data covers, for consent dataPeriod provisions. */
  dataPeriod(resource: FhirResource): { start?: string; end?: string } | undefined;
}

const POLICY_PASS = { id: 'pass-through', version: '0', sha256: '0'.repeat(64) };

/** The spine's stages: everything allowed, nothing transformed. For tests only. */
export const PASS_THROUGH_STAGES: Stages = {
  classify: (resource) => ({
    patient: null,
    ageYears: null,
    categories: [],
    labels: [],
    resourceTypes: [resource.resourceType],
    identifiable: true,
  }),
  classifyEntries: () => [],
  applyLabels: (resource) => resource,
  decide: (input) => ({
    effect: 'permit',
    destination: input.destinationName,
    purpose: input.purpose,
    policy: POLICY_PASS,
    ruleIds: ['pass-through'],
    reasons: [{ text: 'pass-through policy (tests only)' }],
    obligations: [],
  }),
  checkConsent: () => ({ effect: 'permit', reasons: [{ text: 'consent not checked (tests only)' }], obligations: [] }),
  sanitize: (_p, _d, resource) => resource,
  sanitizeV2: (text) => text,
  seal: (input) => ({
    body: Buffer.from(
      JSON.stringify({
        meta: { id: input.messageId, destination: input.destination.name, purpose: input.purpose, policySha256: input.policySha256, created: input.createdAt },
        payload: Buffer.from(input.payload).toString('base64'),
      }),
    ),
    contentType: 'application/json',
  }),
  tokenize: (id) => id,
  patientTokens: (ids) => [...new Set(ids)],
  dataPeriod: () => undefined,
};

export type { AuditEvent };
