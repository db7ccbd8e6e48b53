/**
 * The demo configuration: what the repository's gateway.config.json holds and what
 * `darwaza init` writes into an empty folder. One destination, national-telemed (PK,
 * treatment), served by the built-in upstream simulator on loopback.
 */
/**
 * The appliance's zone when the config names none: date-only consent periods and HL7 v2
 * times without an offset are read in it. The one default; every folder takes it from here.
 */
export const DEFAULT_TIMEZONE = 'Asia/Karachi';

export const DEMO_CONFIG = {
  $schema: './schemas/gateway.config.schema.json',
  organization: 'demo-hospital',
  dataDir: './data',
  certsDir: './certs',
  timezone: DEFAULT_TIMEZONE,
  defaultPurpose: 'TREAT',
  listen: { lan: '127.0.0.1:8080', admin: '127.0.0.1:9090', mllp: '127.0.0.1:2575' },
  lan: { tls: false, allowPlainHttp: true },
  // The demo trusts any process on this machine (plain HTTP on loopback); start warns. Production
  // names each client certificate in access.clients and leaves loopback out.
  access: { loopback: { roles: ['sender', 'consent-writer', 'consent-reader', 'operator', 'auditor'], grants: ['break-glass'] } },
  limits: {
    maxBodyBytes: 10485760,
    maxDepth: 64,
    maxEntries: 10000,
    queueQuotaBytes: 4294967296,
    retentionDays: 7,
  },
  policy: { path: './policies/pk', requireSigned: false, trustedSigners: [], profilesDir: './policies/profiles' },
  destinations: [
    {
      name: 'national-telemed',
      url: 'http://127.0.0.1:9443/ingest',
      country: 'PK',
      kind: 'treatment',
      organization: 'national-telemed',
      format: 'fhir',
      consentModel: 'opt-in',
      timeoutMs: 10000,
      concurrency: 8,
      retry: { maxAttempts: 50, baseDelayMs: 500, maxDelayMs: 300000, maxAgeMs: 1209600000 },
    },
  ],
  routes: [
    {
      name: 'clinical-data-to-national-telemed',
      match: { purpose: ['TREAT', 'ETREAT'] },
      destinations: ['national-telemed'],
    },
  ],
  simulator: { embedded: true, listen: '127.0.0.1:9443' },
} as const;
