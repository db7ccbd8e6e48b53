/**
 * The domain values that stages hand to each other. Types only (plus a few
 * constant tables), so every folder may import them without pulling code.
 *
 * The path of a message (see docs/design.md):
 *   InboundMessage → Classification → per Destination: PolicyDecision →
 *   ConsentDecision → sanitized resource → SealedEnvelope → QueueItem
 */

/** Any FHIR R4 resource as parsed JSON. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: FhirMeta;
  [key: string]: unknown;
}

export interface FhirMeta {
  versionId?: string;
  lastUpdated?: string;
  security?: Coding[];
  tag?: Coding[];
  [key: string]: unknown;
}

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

/** HL7 v3 PurposeOfUse codes accepted in X-Purpose-Of-Use and routes. */
export const PURPOSE_OF_USE = [
  'TREAT', // treatment
  'ETREAT', // emergency treatment (vital interest) — its own priority lane
  'HPAYMT', // payment
  'HOPERAT', // healthcare operations
  'CAREMGT', // care management
  'PUBHLTH', // public health
  'POPHLTH', // population health
  'HRESCH', // healthcare research
  'CLINTRCH', // clinical trial research
  'PATRQT', // patient requested
  'FAMRQT', // family requested
  'HQUALIMP', // quality improvement
  'HSYSADMIN', // system administration
  'TRAIN', // training
  'HTEST', // test health data
  'BTG', // break the glass
  'COC', // coordination of care
] as const;
export type PurposeOfUse = (typeof PURPOSE_OF_USE)[number];

export const isPurposeOfUse = (value: string): value is PurposeOfUse =>
  (PURPOSE_OF_USE as readonly string[]).includes(value);

/** Terminology systems we use for labels. */
export const SYSTEMS = {
  confidentiality: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  obligationPolicy: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  observationValue: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  purposeOfUse: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  cnic: 'urn:oid:2.16.586.1.1', // placeholder OID for Pakistan's NADRA CNIC; configurable in classify
} as const;

/** Sensitive data categories (docs/regulation.md requirements 1 and 7). */
export const CATEGORIES = [
  'mental-health', // FHIR sensitivity PSY
  'substance-use', // ETH
  'hiv-sti', // HIV, STD
  'sexual-reproductive', // SEX
  'violence', // SDV
  'genetics', // GDIS
] as const;
export type Category = (typeof CATEGORIES)[number];

/** Where the data came from on the LAN. */
export type SourceFormat = 'fhir' | 'hl7v2';

/** What ingress hands to the pipeline, after parsing and authenticating the sender. */
export interface InboundMessage {
  /** Gateway-assigned message id (also the uplink Idempotency-Key). */
  id: string;
  /** ISO-8601 instant of acceptance. */
  receivedAt: string;
  /** Authenticated sending system (mTLS client name, MSH-3/4, or "lan"). */
  source: string;
  purpose: PurposeOfUse;
  format: SourceFormat;
  /** The FHIR content (for HL7 v2 input: the mapped Bundle). */
  resource: FhirResource;
  /** The original HL7 v2 text, for destinations that take v2. */
  v2?: string;
  /** When the sender narrowed the destinations (X-Destination). */
  destinations?: string[];
}

/** The patient a message is about, as found by classification. */
export interface PatientIdentity {
  /** Stable identity string (e.g. "Patient/123" or "cnic|12345-1234567-1"): input to the pseudonymous token. */
  key: string;
  /** Every identifier/reference seen for this patient (used to match consents). */
  ids: string[];
  birthDate?: string;
}

export interface Classification {
  patient: PatientIdentity | null;
  /** Age in whole years at decision time, when a birth date is known. */
  ageYears: number | null;
  categories: Category[];
  /** Effective security labels (confidentiality + sensitivity), only ever raised. */
  labels: Coding[];
  resourceTypes: string[];
  /**
   * False only when the content holds neither a person nor clinical data (directories,
   * terminology). Computed from content: a sender's own labels never lower it.
   */
  identifiable: boolean;
  /** Some content could not be read (undecodable attachment, unparseable HL7 v2): treated as identifiable. */
  opaque?: boolean;
  /** Why classification decided as it did, in plain words (never content, never PHI). */
  reasons?: string[];
  /** Every distinct patient (Patient/Person resource) found; more than one is a multi-patient message. */
  patients?: PatientIdentity[];
}

export type DestinationKind = 'treatment' | 'public-health' | 'research' | 'ai-service' | 'registry' | 'other';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Dead-letter a message this long after it was queued, even if attempts remain. */
  maxAgeMs: number;
}

export interface Destination {
  name: string;
  url: string;
  /** ISO 3166 alpha-2 country of the receiving service (residency). */
  country: string;
  region?: string;
  kind: DestinationKind;
  /** Organisation identifier used as the consent "actor" for this destination. */
  organization?: string;
  /** What the destination receives: mapped FHIR (default) or the original HL7 v2. */
  format: 'fhir' | 'hl7v2';
  timeoutMs: number;
  concurrency: number;
  retry: RetryPolicy;
  /** Base64 X25519 public key of the recipient (sealing). */
  recipientPublicKey?: string;
  recipientKeyId?: string;
  tls?: { ca?: string; cert?: string; key?: string; pinSha256?: string[] };
  /** Payloads are compressed before sealing (named in meta.contentEncoding). */
  compress?: 'gzip' | 'br';
  /** The destination takes batches of envelopes (docs/envelope.md, "Batches"). */
  batch?: { maxItems: number; maxBytes: number };
  /** Envelopes of at least aboveBytes go up with the tus resumable-upload protocol (at path, default /tus/). */
  resumable?: { aboveBytes: number; path?: string; chunkBytes?: number };
  /** Cap on bytes per second sent to this destination. */
  bandwidthBytesPerSec?: number;
  /** Lanes sent only in a daily window (HH:MM, gateway time zone; from > to wraps midnight). */
  laneWindows?: Partial<Record<'emergency' | 'treatment' | 'public-health' | 'research', { from: string; to: string }>>;
}

export interface PolicyRef {
  id: string;
  version: string;
  sha256: string;
}

/** One plain-words reason, tied to the rule or consent provision that gave it. */
export interface Reason {
  ruleId?: string;
  text: string;
}

export type Obligation =
  | { kind: 'require-consent'; purposes?: PurposeOfUse[]; scope?: string; categories?: Category[]; ruleId: string }
  | { kind: 'sanitize'; profile: string; ruleId: string }
  | { kind: 'label'; labels: Coding[]; ruleId: string }
  | { kind: 'seal'; required: boolean; ruleId: string }
  /** From consent: remove these data classes before sending; the rest is permitted (src/consent). */
  | { kind: 'redact'; resourceTypes: string[]; categories: Category[]; ruleId: string };

export interface PolicyDecision {
  effect: 'permit' | 'deny';
  destination: string;
  purpose: PurposeOfUse;
  policy: PolicyRef;
  /** Ids of the rules that produced the effect and the obligations. */
  ruleIds: string[];
  reasons: Reason[];
  obligations: Obligation[];
  /** sha256 of the de-identification profiles of the policy pack that decided (its manifest's profile lines). */
  profilesSha256?: string;
}

export interface ConsentDecision {
  effect: 'permit' | 'deny';
  consentId?: string;
  consentVersion?: string;
  /** e.g. "provision.provision[1]" */
  provisionPath?: string;
  reasons: Reason[];
  /** e.g. redact a class of data. */
  obligations: Obligation[];
  /** 'permit-with-obligations' when effect is permit and obligations (e.g. redact) remain (src/consent). */
  outcome?: 'permit' | 'deny' | 'permit-with-obligations';
}

/** What the sender is told per destination. */
export type DeliveryState = 'denied' | 'queued' | 'delivering' | 'delivered' | 'retrying' | 'dead' | 'withdrawn' | 'purged';

export interface DestinationOutcome {
  name: string;
  decision: 'queued' | 'denied';
  reasons: string[];
  policy?: PolicyRef;
  ruleIds?: string[];
  consent?: { id?: string; version?: string; effect: 'permit' | 'deny' };
}

/** The kinds of audit record. */
export type AuditEventType =
  | 'received'
  | 'decided'
  | 'queued'
  | 'consent-withdrawn'
  | 'delivered'
  | 'dead-lettered'
  | 'purged'
  | 'policy-activated'
  | 'key-rotated'
  | 'config-changed'
  | 'admin-action'
  // Security events (src/audit/security-events.ts builds them).
  | 'access-denied'
  | 'break-glass'
  | 'tls-refused'
  | 'policy-refused'
  /** A stored row failed its integrity check and was refused (src/audit/integrity.ts). */
  | 'integrity-failure'
  /** This log continues an earlier one, closed under the signed head it names (an appliance's SQLite log moved to PostgreSQL). */
  | 'log-continued';

/** Every field an audit record may carry (the audit log's allow-list); all PHI-free. */
export interface AuditFields {
  /** ISO-8601 instant. */
  time: string;
  messageId?: string;
  source?: string;
  destination?: string;
  purpose?: string;
  decision?: string;
  ruleIds?: string[];
  policySha256?: string;
  /** SHA-256 of the policy pack's de-identification profiles in force (decided). */
  profilesSha256?: string;
  /** SHA-256 of the gateway configuration (config-changed). */
  configSha256?: string;
  consentId?: string;
  consentVersion?: string;
  /** Keyed hash of PatientIdentity.key — never the identity itself. */
  patientToken?: string;
  /** Data categories and resource types — never content. */
  dataClasses?: string[];
  /** Plain-words reason without PHI. */
  reason?: string;
  /** The authenticated identity (certificate, token or allow-listed name); never a patient. */
  actor?: string;
  /** The channel: 'mllp', 'https', 'http'. */
  protocol?: string;
  /** A peer's IP address (refused TLS handshakes, refused clients). */
  peer?: string;
  /** How many events one aggregated entry stands for (refused TLS handshakes). */
  count?: number;
  /** Came over a channel without TLS (an allow-listed plain MLLP sender, a loopback peer). */
  plain?: boolean;
  /** The source a sender claimed (MSH-3|MSH-4, X-Source-System), kept apart from the authenticated one. */
  claimedSource?: string;
  /** The guarded action (src/auth), e.g. consent.write. */
  action?: string;
  /** The route pattern, e.g. "GET /fhir/Consent" (never a query or an id). */
  route?: string;
  /** log-continued: the closed earlier log's last signed head (size, root hash, signing key id). */
  priorTreeSize?: number;
  priorRootHash?: string;
  priorKeyId?: string;
}

type Needs<K extends keyof AuditFields> = Required<Pick<AuditFields, K>>;

/** A message arrived (one per message, committed with it). */
export type ReceivedEvent = AuditFields & Needs<'messageId' | 'source' | 'purpose'> & { event: 'received' };
/** The policy (and consent) decision for one destination. */
export type DecidedEvent = AuditFields & Needs<'messageId' | 'destination' | 'decision' | 'policySha256'> & { event: 'decided' };
/** A sealed copy was queued for one destination. */
export type QueuedEvent = AuditFields & Needs<'messageId' | 'destination'> & { event: 'queued' };
/** Consent withdrawn: a consent version (registry) or a queued row it reached (queue, dispatcher). */
export type ConsentWithdrawnEvent = AuditFields & Needs<'reason'> & { event: 'consent-withdrawn' };
export type DeliveredEvent = AuditFields & Needs<'messageId' | 'destination' | 'decision'> & { event: 'delivered' };
export type DeadLetteredEvent = AuditFields & Needs<'messageId' | 'destination' | 'decision' | 'reason'> & { event: 'dead-lettered' };
/** Payload destroyed or rows removed (operator purge, retention, a re-check that now denies). */
export type PurgedEvent = AuditFields & Needs<'reason'> & { event: 'purged' };
export type PolicyActivatedEvent = AuditFields & Needs<'policySha256' | 'actor'> & { event: 'policy-activated' };
export type KeyRotatedEvent = AuditFields & Needs<'reason' | 'actor'> & { event: 'key-rotated' };
export type ConfigChangedEvent = AuditFields & Needs<'configSha256' | 'actor'> & { event: 'config-changed' };
export type AdminActionEvent = AuditFields & Needs<'reason'> & { event: 'admin-action' };
/** Security events: a refused role, a break-glass use, refused TLS handshakes, a refused policy reload. */
export type AccessDeniedEvent = AuditFields & Needs<'action' | 'reason'> & { event: 'access-denied' };
export type BreakGlassEvent = AuditFields & Needs<'actor' | 'reason'> & { event: 'break-glass' };
export type TlsRefusedEvent = AuditFields & Needs<'count' | 'reason'> & { event: 'tls-refused' };
export type PolicyRefusedEvent = AuditFields & Needs<'reason'> & { event: 'policy-refused' };
/** A stored row failed its integrity check (forged, swapped or in clear) and was refused. */
export type IntegrityFailureEvent = AuditFields & Needs<'reason'> & { event: 'integrity-failure' };
/** The first entry of a log that continues an earlier, closed one (docs/postgres.md, "Migrating an appliance"). */
export type LogContinuedEvent = AuditFields & Needs<'priorTreeSize' | 'priorRootHash' | 'priorKeyId' | 'actor'> & { event: 'log-continued' };

/** One PHI-free audit record (src/audit turns it into a canonical Merkle leaf); build with src/audit's auditEvents. */
export type AuditEvent =
  | ReceivedEvent
  | DecidedEvent
  | QueuedEvent
  | ConsentWithdrawnEvent
  | DeliveredEvent
  | DeadLetteredEvent
  | PurgedEvent
  | PolicyActivatedEvent
  | KeyRotatedEvent
  | ConfigChangedEvent
  | AdminActionEvent
  | AccessDeniedEvent
  | BreakGlassEvent
  | TlsRefusedEvent
  | PolicyRefusedEvent
  | IntegrityFailureEvent
  | LogContinuedEvent;

/** The record of one kind. */
export type AuditEventOf<K extends AuditEventType> = Extract<AuditEvent, { event: K }>;

/** Appends audit events inside the caller's open SQLite transaction (same db handle). */
export interface AuditSink {
  append(events: AuditEvent[]): void;
}

/**
 * Encrypts queue payloads and consents at rest under a data key chosen by scope (e.g. the day,
 * or a patient token). `aad` names the row the ciphertext belongs to (src/crypto bindRow): a
 * ciphertext decrypts only with the same scope AND the same row binding.
 */
export interface PayloadCipher {
  encrypt(plain: Uint8Array, scope: string, aad: Uint8Array): Uint8Array;
  /** Throws PayloadTamperedError (from src/crypto) when the ciphertext was altered or belongs to another row. */
  decrypt(cipher: Uint8Array, scope: string, aad: Uint8Array): Uint8Array;
  /** Destroys the data key of a scope: everything under it becomes unrecoverable. */
  shred(scope: string): void;
}

/**
 * What one delivery attempt to a destination came to (src/egress produces it,
 * the queue's dispatcher acts on it). Errors carry no body content (no PHI).
 */
export type DeliveryResult =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; status?: number; retryAfterMs?: number; error: string }
  | { kind: 'dead'; status: number; error: string };
