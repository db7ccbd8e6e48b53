import type { Destination, PurposeOfUse } from '../model/index.js';
import type { AccessConfig } from '../auth/index.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface Route {
  name: string;
  match: {
    format?: ('fhir' | 'hl7v2')[];
    purpose?: PurposeOfUse[];
    resourceTypes?: string[];
    source?: string[];
    messageType?: string[];
  };
  destinations: string[];
  opaque: boolean;
}

export interface DestinationConfig extends Destination {
  consentModel: 'opt-in' | 'opt-out';
  seal: boolean;
}

/** gateway.config.json after validation, defaults applied and paths resolved. */
export interface GatewayConfig {
  /** Absolute path of the file this came from, or '(embedded defaults)'. */
  file: string;
  organization: string;
  dataDir: string;
  certsDir: string;
  /**
   * Where the gateway keeps its state: the embedded SQLite file in dataDir, or PostgreSQL shared by
   * two or more gateways (docs/ha.md). `nodeId` names this gateway in leases and audit entries.
   */
  store: StoreConfig;
  timezone: string;
  defaultPurpose: PurposeOfUse;
  listen: { lan: HostPort; admin: HostPort; mllp: HostPort | null };
  /** senders: deprecated, folded into access.clients as role "sender" (see deprecations). */
  lan: { tls: boolean; allowPlainHttp: boolean; senders: string[] };
  /** Who may do what (src/auth); lan.senders already folded in. */
  access: AccessConfig;
  /** Settings that still work but should change; start prints each. */
  deprecations: string[];
  limits: {
    maxBodyBytes: number;
    maxDepth: number;
    maxEntries: number;
    queueQuotaBytes: number;
    retentionDays: number;
    /** Dead letters are purged (audited) this long after their last change. */
    deadLetterRetentionDays: number;
    /** Dead letters this close to expiry are reported as expiring. */
    deadLetterWarningDays: number;
    /** A withdrawn consent is kept this long after its withdrawal (legal hold), then deleted. */
    withdrawnConsentHoldDays: number;
    /** Idempotency-Keys are remembered this long. */
    idempotencyRetentionDays: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    maxConnections: number;
    mllpMaxFrameBytes: number;
    mllpIdleTimeoutMs: number;
    mllpMaxConnections: number;
    /** Bytes of frames received on one MLLP connection and not yet answered before it is paused. */
    mllpMaxPendingBytesPerConnection: number;
    /** The same over all MLLP connections. */
    mllpMaxPendingBytes: number;
  };
  policy: { path: string; requireSigned: boolean; trustedSigners: string[]; profilesDir: string };
  destinations: DestinationConfig[];
  routes: Route[];
  /** HL7 v2 break-glass: the fields "SEG-n[.c]" holding the purpose of use and the reason. */
  mllp: { breakGlass: { purposeField: string; reasonField: string } };
  audit: {
    treeHeadCron: string;
    treeHeadEveryEntries: number;
    atna?: { host: string; port: number; ca?: string; cert?: string; key?: string };
  };
  keys: { kek: 'file' | 'env' | 'passphrase'; rotateCron?: string; overlapDays: number };
  dispatcher: { pollMs: number; breakerFailures: number; breakerCooldownMs: number };
  simulator: { embedded: boolean; listen: HostPort };
}

export type StoreConfig = { kind: 'sqlite' } | { kind: 'postgres'; url: string; pool: { max?: number }; nodeId: string; leaseSeconds: number };
