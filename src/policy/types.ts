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
  sanitizeProfiles?: Record<string, { deidentifies: boolean; description?: string }>;
  rules: PolicyFileRule[];
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
  sanitizeProfiles: Record<string, { deidentifies: boolean; description?: string }>;
  /** Warnings found while compiling (errors throw). */
  warnings: LintFinding[];
  /** Set when loaded with signature checking. */
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

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(
    message: string,
    readonly findings: LintFinding[] = [],
  ) {
    super(message);
  }
}

export const formatFinding = (f: LintFinding) =>
  `${f.file}:${f.line}:${f.column}: ${f.severity}: ${f.message} [${f.code}]`;
