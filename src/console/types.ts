/**
 * What the console reads and does, as one port: the gateway builds it from its store,
 * dispatcher, audit log, consent registry and policy (gateway wiring), tests may build it
 * from anything. Every value here is free of PHI except consent resources, which only
 * the consent pages (consent.read) show.
 */
import type { HttpAuth, IdentityResult } from '../auth/index.js';
import type { CountRow, DestinationDispatchState, ItemStatus, ListFilter, MessageStatus, PurgeFilter, RetryFilter } from '../queue/index.js';
import type { MessageExplanation } from '../pipeline/index.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { BreachReport, BreakGlassReport, DisclosureRow, SignedTreeHead, VerifyResult } from '../audit/index.js';

export interface CertificateLine {
  name: string;
  notAfter: string;
  daysLeft: number;
  revoked: boolean;
}

export interface ConsentVersionLine {
  version: number;
  status: string;
  /** When this version was stored (ISO). */
  stored?: string;
  reason?: string;
}

export interface ConsentLine {
  id: string;
  status: string;
  /** The latest version's resource (FHIR Consent). */
  resource: Record<string, unknown>;
  versions: ConsentVersionLine[];
}

export interface ConsoleQueue {
  counts(): Promise<CountRow[]>;
  list(filter?: ListFilter): Promise<ItemStatus[]>;
  getMessage(id: string): Promise<MessageStatus | undefined>;
  retryDead(filter: RetryFilter, actor: string): Promise<number>;
  purge(filter: PurgeFilter, actor: string): Promise<number>;
  heldPayloadBytes(): number;
  atQuota(): boolean;
  /** Deliveries per destination since an epoch ms. */
  deliveredSince(sinceMs: number): Promise<{ destination: string; count: number }[]>;
}

/** What the console reads of the audit log: the SQLite log answers at once, the shared PostgreSQL log asynchronously. */
export interface ConsoleAudit {
  size(): number | Promise<number>;
  latestHead(): SignedTreeHead | null | Promise<SignedTreeHead | null>;
  heads(): SignedTreeHead[] | Promise<SignedTreeHead[]>;
  verify(): Promise<VerifyResult>;
  /** Writes a native export folder (verifiable offline) and returns its files, name → bytes. */
  exportFiles(): Promise<Record<string, Uint8Array>>;
  disclosures(patientId: string): DisclosureRow[] | Promise<DisclosureRow[]>;
  breach(since: string, until: string): BreachReport | Promise<BreachReport>;
  breakGlass(since?: string, until?: string): BreakGlassReport | Promise<BreakGlassReport>;
}

export interface ConsoleConsents {
  /** Latest versions of the consents for a patient id (CNIC, system|MRN, Patient/ref). */
  search(patientId: string): ConsentLine[] | Promise<ConsentLine[]>;
  withdraw(id: string, reason: string, actor: string): { id: string; version: number } | Promise<{ id: string; version: number }>;
}

export interface PolicyTestSummary {
  files: number;
  passed: number;
  failed: number;
  /** Rules exercised by a test case, 0–100. */
  coverage: number;
  /** Rule ids no test case exercises. */
  uncovered: string[];
}

export interface ConsoleDeps {
  /** The admin listener's guard (src/auth); without it every route is open (unit tests only). */
  auth?: HttpAuth;
  /** Verifies a token exactly as a bearer token is verified (sign-in). */
  identify(token: string): IdentityResult;
  clock?: () => Date;
  destinations(): string[];
  queue: ConsoleQueue;
  dispatch(): DestinationDispatchState[];
  quotaBytes: number;
  explain(id: string): Promise<MessageExplanation | undefined>;
  certificates(): CertificateLine[];
  policy(): CompiledPolicy;
  /** The policy's own tests (its *.test.yaml files), run once per policy version; undefined: none found. */
  policyTests?(): Promise<PolicyTestSummary | undefined>;
  audit: ConsoleAudit;
  consents: ConsoleConsents;
  /** How often connected pages get fresh figures (ms, default 2000). */
  liveIntervalMs?: number;
  /** How often a chart point is taken (ms, default 5000). */
  sampleIntervalMs?: number;
  /** Set the Secure flag on the session cookie (a TLS listener). */
  secureCookie?: boolean;
}
