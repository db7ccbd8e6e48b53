/** The shapes of a policy file (as written) and of a compiled policy (as used). */
import type {
  Category,
  Classification,
  Destination,
  DestinationKind,
  Obligation,
  PolicyDecision,
  PolicyRef,
  PurposeOfUse,
} from '../model/index.js';

export const RULE_STATUS = ['law', 'draft', 'guidance', 'inferred'] as const;
export type RuleStatus = (typeof RULE_STATUS)[number];

/** A list (any of) or { not: list } (none of); a single string is a list of one. */
export type Match<T extends string> = T | T[] | { not: T[] };

export interface PolicyFileRule {
  id: string;
  description: string;
  source: string;
  status: RuleStatus;
  exception?: string;
  when: {
    destination?: {
      known?: boolean;
      name?: Match<string>;
      country?: Match<string>;
      region?: Match<string>;
      kind?: Match<DestinationKind>;
    };
    purpose?: Match<PurposeOfUse>;
    source?: Match<string>;
    time?: { timezone: string; hours?: string; days?: string[] };
    data?: {
      identifiable?: boolean;
      sensitive?: boolean;
      categories?: Match<Category>;
      labels?: Match<string>;
      unknownLabels?: boolean;
      /** The form leaving for this destination holds content darwaza could not classify (see PolicyInput.opaque). */
      opaque?: boolean;
      resourceTypes?: Match<string>;
      ageUnder?: number;
      ageAtLeast?: number;
    };
  };
  then: {
    effect?: 'permit' | 'deny';
    reason?: string;
    obligations?: PolicyFileObligation[];
  };
}

export type PolicyFileObligation =
  | {
      'require-consent': {
        scope?: string;
        purposes?: 'of-message' | PurposeOfUse[];
        categories?: 'of-data' | Category[];
      };
    }
  | { sanitize: string }
  | { label: string[] }
  | { seal: boolean };

export interface PolicyFile {
  'darwaza-policy': 1;
  id: string;
  version: string;
  title: string;
  description?: string;
  jurisdiction?: string;
  combining: 'deny-overrides';
  default: 'deny';
  sanitizeProfiles?: Record<string, SanitizeProfileDecl>;
  destinations?: PackDestination[];
  rules: PolicyFileRule[];
}

export interface SanitizeProfileDecl {
  deidentifies: boolean;
  description?: string;
  /** The profile file, relative to the policy file; default ../profiles/NAME.(yaml|yml|json). */
  file?: string;
}

/** The marker for the built-in demo receiver, whose key is made on first run (loopback URLs only). */
export const EMBEDDED_SIMULATOR_KEY = 'embedded-simulator';

/** A destination as the signed pack declares it: the facts every decision rests on. */
export interface PackDestination {
  name: string;
  description?: string;
  country: string;
  region?: string;
  kind: DestinationKind;
  consentModel: 'opt-in' | 'opt-out';
  /** URL hosts the config may point this destination at (lower case; IPv6 without brackets). */
  allowedHosts: string[];
  /** "sha256:HEX" of the recipient's X25519 public key, or EMBEDDED_SIMULATOR_KEY. */
  recipientKey: string;
  /** base64 sha256 of the uplink certificate's SubjectPublicKeyInfo. */
  spkiPins?: string[];
}

/** One file of a policy pack, as hashed. */
export interface PackFile {
  /** 'policy' or 'profile:NAME'. */
  role: string;
  /** Absolute path. */
  path: string;
  /** sha256 (hex) of the canonical bytes; null when the file is missing. */
  sha256: string | null;
}

/**
 * A policy pack on disk: the policy file and the profile files it references, hashed as
 * one manifest (see docs/policy.md, "The pack and its hash").
 */
export interface PolicyPack {
  /** sha256 (hex) of the manifest: what `darwaza policy sign` signs. */
  sha256: string;
  /** sha256 (hex) over the profile lines of the manifest only (names, files, hashes). */
  profilesSha256: string;
  /** The manifest text (canonical, LF line ends). */
  manifest: string;
  files: PackFile[];
  /** Profile name → its text as hashed; absent when the file is missing (decisions naming it fail closed). */
  profiles: Record<string, { file: string; sha256: string; text: string }>;
  /** Profile names the policy declares whose file is missing. */
  missingProfiles: string[];
}

/** The destination facts a rule may look at (a full config Destination fits). */
export type PolicyDestination = Pick<Destination, 'name' | 'country' | 'kind'> & Partial<Omit<Destination, 'name' | 'country' | 'kind'>>;

export interface PolicyInput {
  destinationName: string;
  /** undefined = the destination is not in the configuration: unknown means deny. */
  destination?: PolicyDestination;
  purpose: PurposeOfUse;
  classification: Classification;
  /** The sending LAN system. */
  source: string;
  now: Date;
  /**
   * The form that would leave for this destination holds content darwaza could not classify:
   * HL7 v2 segments outside the understood list (Z-segments …), or an unmapped message type
   * sent as v2. Unset: everything leaving was classified.
   */
  opaque?: boolean;
}

/** The evaluation context of one decision (the data as it arrives, or as it will leave). */
export interface EvalContext {
  destination: PolicyDestination | undefined;
  purpose: PurposeOfUse;
  source: string;
  data: Classification;
  /** Label codes on the data (system-qualified "system|code"). */
  labelKeys: Set<string>;
  unknownLabels: boolean;
  /** PolicyInput.opaque. */
  opaque: boolean;
  /** Decision time (for time windows). */
  now: Date;
}

export interface CompiledCondition {
  /** Dotted field, e.g. destination.country. */
  field: string;
  /** Plain words of what must hold, e.g. "the destination's country is not PK". */
  text: string;
  test: (ctx: EvalContext) => boolean;
  /** The value the condition looked at, for the trace (read by explain()). */
  actual: (ctx: EvalContext) => unknown;
}

export interface CompiledRule {
  id: string;
  index: number;
  description: string;
  source: string;
  status: RuleStatus;
  exception?: string;
  /** 'form' rules name a de-identifying sanitize profile and are judged first, on the data as it arrives. */
  phase: 'form' | 'main';
  conditions: CompiledCondition[];
  /** The plain words of every condition (shared by every trace step; do not mutate). */
  texts: string[];
  effect?: 'permit' | 'deny';
  reason?: string;
  /** Obligation templates; 'of-message' / 'of-data' are filled at decision time. */
  obligations: PolicyFileObligation[];
  deidentifies: boolean;
  /** The rule as written (for lint). */
  raw: PolicyFileRule;
}

export interface LintFinding {
  file: string;
  line: number;
  column: number;
  severity: 'error' | 'warning';
  /** Short machine code: yaml, unknown-field, missing-field, bad-value, duplicate-id, never-matches, shadowed, … */
  code: string;
  message: string;
}

export interface CompiledPolicy {
  id: string;
  version: string;
  title: string;
  description?: string;
  /** sha256 (hex) of the canonical bytes (UTF-8, BOM removed, CRLF → LF). */
  sha256: string;
  ref: PolicyRef;
  fileName: string;
  rules: CompiledRule[];
  formRules: CompiledRule[];
  mainRules: CompiledRule[];
  sanitizeProfiles: Record<string, SanitizeProfileDecl>;
  /** The destinations the policy declares (empty for a policy without a destinations section). */
  destinations: PackDestination[];
  /** Set by loadPolicy: the pack (policy + profile files) read from disk, its hash and profile texts. */
  pack?: PolicyPack;
  /** Warnings found while compiling (errors throw). */
  warnings: LintFinding[];
  /** Set when loaded with signature checking: the key id that signed the whole pack. */
  signedBy?: string;
}

export interface TraceStep {
  ruleId: string;
  description: string;
  source: string;
  status: RuleStatus;
  phase: 'form' | 'main';
  matched: boolean;
  /** When not matched: the first condition that did not hold and the value it saw. */
  failed?: { field: string; text: string; actual: unknown };
  /** When matched: every condition (plain words) that held. */
  held?: string[];
  effect?: 'permit' | 'deny';
  reason?: string;
  exception?: string;
  obligations?: Obligation[];
}

export type Decision = PolicyDecision & {
  trace: TraceStep[];
  /** Set when a form rule changed what leaves: the data is judged as de-identified. */
  deidentifiedBy?: string;
  /** Legal exceptions cited by the permitting rules (release without consent). */
  exceptions: Array<{ ruleId: string; exception: string }>;
  /** Plain words for the destination as judged (name, country, kind or "unknown"). */
  destinationFacts: string;
};

/** Why a policy was refused, in short machine form (no file content, so no PHI). */
export type RefusalCode = 'unreadable' | 'invalid' | 'unsigned' | 'bad-signature' | 'tampered' | 'untrusted' | 'no-trusted-signers' | 'other';

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(
    message: string,
    readonly findings: LintFinding[] = [],
    readonly code: RefusalCode = findings.length ? 'invalid' : 'other',
    /** The same refusal in plain words without file content or paths (for audit entries). */
    readonly reason?: string,
  ) {
    super(message);
  }
}

export const formatFinding = (f: LintFinding) =>
  `${f.file}:${f.line}:${f.column}: ${f.severity}: ${f.message} [${f.code}]`;
