/**
 * Who may do what: the roles, the extra grants a sender can hold, every action the
 * gateway guards, and the one table that joins them. Pure data and a pure decision;
 * docs/security.md carries the same table (a test keeps the two equal).
 *
 * Two rules shape the table:
 * - Anything not listed is refused (unknown means deny), including for no identity.
 * - `admin` runs the gateway, it does not handle patients: it may do every action
 *   that touches no patient data (queues, audit proofs, tokens, policy reload, the
 *   console), but submitting data, reading or writing consents, and per-patient
 *   disclosure reports need their own role, granted alongside `admin` if wanted.
 */

export const ROLES = ['sender', 'consent-writer', 'consent-reader', 'operator', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Extra grants; they only mean something for a `sender`. */
export const GRANTS = ['integration-engine', 'break-glass'] as const;
export type Grant = (typeof GRANTS)[number];

export const isRole = (s: string): s is Role => (ROLES as readonly string[]).includes(s);
export const isGrant = (s: string): s is Grant => (GRANTS as readonly string[]).includes(s);

export interface ActionRule {
  /** Roles that may do it (any one suffices). */
  roles: readonly Role[];
  /** When set, the identity must also hold this grant. */
  grant?: Grant;
  /** The action carries or reveals patient data (admin alone is not enough). */
  patientData: boolean;
  /** One line for the docs and for refusal reasons. */
  summary: string;
}

const OVERSIGHT: readonly Role[] = ['operator', 'auditor', 'admin'];

/** The table. Order is the order of docs/security.md's matrix. */
export const ACTION_RULES = {
  'fhir.submit': { roles: ['sender'], patientData: true, summary: 'POST a FHIR Bundle or resource to the LAN API' },
  // What the API can do (no data): any role may ask, as FHIR clients do before anything else.
  'fhir.capabilities': {
    roles: ['sender', 'consent-writer', 'consent-reader', 'operator', 'auditor', 'admin'],
    patientData: false,
    summary: 'GET /fhir/metadata, the CapabilityStatement',
  },
  'hl7v2.submit': { roles: ['sender'], patientData: true, summary: 'send an HL7 v2 message over MLLP' },
  'source.claim': {
    roles: ['sender'],
    grant: 'integration-engine',
    patientData: true,
    summary: 'have X-Source-System honoured as the claimed source system',
  },
  'purpose.etreat': {
    roles: ['sender'],
    grant: 'break-glass',
    patientData: true,
    summary: 'submit with purpose ETREAT (needs X-Break-Glass-Reason)',
  },
  'message.read.own': { roles: ['sender'], patientData: false, summary: 'GET /messages/{id} for a message this identity sent' },
  'message.read.any': { roles: OVERSIGHT, patientData: false, summary: 'GET /messages/{id} for any message' },
  'consent.write': { roles: ['consent-writer'], patientData: true, summary: 'create, update or withdraw a FHIR Consent' },
  // A writer that cannot read back cannot update or withdraw safely.
  'consent.read': { roles: ['consent-reader', 'consent-writer'], patientData: true, summary: 'read FHIR Consents' },
  'queue.read': { roles: ['operator', 'admin'], patientData: false, summary: 'queue stats, list, inspect (never payloads)' },
  'queue.retry': { roles: ['operator', 'admin'], patientData: false, summary: 'send dead letters back to the queue' },
  'queue.purge': { roles: ['operator', 'admin'], patientData: false, summary: 'destroy payloads of dead or delivered rows' },
  'audit.export': { roles: ['auditor', 'admin'], patientData: false, summary: 'export audit entries (no PHI)' },
  'audit.explain': { roles: ['auditor', 'admin'], patientData: false, summary: 'explain a recorded decision' },
  'audit.verify': { roles: ['auditor', 'admin'], patientData: false, summary: 'verify tree heads and inclusion proofs' },
  'audit.disclosures': { roles: ['auditor'], patientData: true, summary: "a patient's accounting of disclosures" },
  'status.read': { roles: OVERSIGHT, patientData: false, summary: 'status API: destinations, breakers, queue depth' },
  'metrics.read': { roles: OVERSIGHT, patientData: false, summary: 'GET /metrics (also the metrics bearer token)' },
  'console.view': { roles: OVERSIGHT, patientData: false, summary: "the operator's console" },
  'tokens.manage': { roles: ['admin'], patientData: false, summary: 'create, list and revoke API tokens' },
  'policy.reload': { roles: ['admin'], patientData: false, summary: 'reload the signed policy pack' },
} as const satisfies Record<string, ActionRule>;

export type Action = keyof typeof ACTION_RULES;
export const ACTIONS = Object.keys(ACTION_RULES) as Action[];
export const isAction = (s: string): s is Action => Object.hasOwn(ACTION_RULES, s);

export function ruleFor(action: Action): ActionRule {
  return ACTION_RULES[action];
}
