/**
 * The JSON Schema of gateway.config.json. The published copy in
 * schemas/gateway.config.schema.json is generated from this (`npm run schemas`) and a
 * test keeps the two equal. Every limit is explicit here (DESIGN promise 7).
 */
import { DEFAULT_TIMEZONE } from './defaults.js';
import { accessConfigSchema } from '../auth/index.js';

const hostPort = { type: 'string', pattern: '^[^\\s:]+:\\d{1,5}$', description: 'HOST:PORT, e.g. 127.0.0.1:8080' };
const purpose = {
  type: 'string',
  enum: ['TREAT', 'ETREAT', 'HPAYMT', 'HOPERAT', 'CAREMGT', 'PUBHLTH', 'POPHLTH', 'HRESCH', 'CLINTRCH', 'PATRQT', 'FAMRQT', 'HQUALIMP', 'HSYSADMIN', 'TRAIN', 'HTEST', 'BTG', 'COC'],
  description: 'an HL7 v3 PurposeOfUse code',
};

export const gatewayConfigSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://darwaza.example/schemas/gateway.config.schema.json',
  title: 'darwaza gateway configuration',
  type: 'object',
  additionalProperties: false,
  required: ['destinations', 'routes'],
  properties: {
    $schema: { type: 'string' },
    organization: { type: 'string', minLength: 1, default: 'demo-hospital', description: 'this hospital, named in envelopes as the source organisation' },
    dataDir: { type: 'string', minLength: 1, default: './data', description: 'where the SQLite store lives (relative to the config file)' },
    certsDir: { type: 'string', minLength: 1, default: './certs', description: 'keys and certificates made by `darwaza init`' },
    store: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'where the gateway keeps its state: the embedded SQLite file in dataDir (the default), or PostgreSQL shared by a pair (docs/ha.md)',
      properties: {
        kind: { enum: ['sqlite', 'postgres'], default: 'sqlite' },
        // No pattern here: a schema error would print the value, and a URL may hold a password.
        url: { type: 'string', minLength: 1, description: 'postgres only: postgres://user@host:port/db' },
        pool: {
          type: 'object',
          additionalProperties: false,
          properties: { max: { type: 'integer', minimum: 1, maximum: 200, description: 'postgres only: connections per gateway' } },
        },
        leaseSeconds: {
          type: 'integer',
          minimum: 5,
          maximum: 3600,
          description: 'postgres only: how long a node holds a claimed delivery; when a node dies, another sends its claimed messages again after this (default 120)',
        },
        nodeId: {
          type: 'string',
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$',
          description: 'postgres only: this gateway\'s name in leases and audit entries (default: the host name); each gateway of a pair needs its own',
        },
      },
    },
    timezone: { type: 'string', default: DEFAULT_TIMEZONE, description: 'zone for date-only consent periods' },
    defaultPurpose: { ...purpose, default: 'TREAT', description: 'purpose of use when a request names none' },
    listen: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        lan: { ...hostPort, default: '127.0.0.1:8080' },
        admin: { ...hostPort, default: '127.0.0.1:9090' },
        mllp: { anyOf: [hostPort, { type: 'null' }], default: '127.0.0.1:2575', description: 'HL7 v2 MLLP listener, or null for none' },
      },
    },
    lan: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        tls: { type: 'boolean', default: false, description: 'HTTPS with client certificates from our CA (mTLS)' },
        allowPlainHttp: { type: 'boolean', default: false, description: 'must be set to true, explicitly, to run the LAN API without TLS (e.g. loopback behind an integration engine); start warns loudly' },
        senders: {
          type: 'array',
          default: [],
          items: { type: 'string', minLength: 1 },
          description: 'deprecated: use access.clients. Each name (a client certificate CN or SAN) is given the role "sender"; start warns',
        },
      },
    },
    access: accessConfigSchema,
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxBodyBytes: { type: 'integer', minimum: 1024, default: 10485760 },
        maxDepth: { type: 'integer', minimum: 4, maximum: 1000, default: 64 },
        maxEntries: { type: 'integer', minimum: 1, default: 10000 },
        queueQuotaBytes: { type: 'integer', minimum: 1048576, default: 4294967296, description: 'disk the queue may use before ingress answers 503' },
        retentionDays: { type: 'number', minimum: 0, default: 7, description: 'delivered messages are purged after this' },
        deadLetterRetentionDays: {
          type: 'number',
          exclusiveMinimum: 0,
          default: 30,
          description: 'dead letters (payload included) are purged this long after their last change, with an audit entry; docs/operating.md says why 30',
        },
        deadLetterWarningDays: { type: 'number', minimum: 0, default: 7, description: 'dead letters this close to expiry are reported (metrics, console)' },
        withdrawnConsentHoldDays: {
          type: 'number',
          exclusiveMinimum: 0,
          default: 2190,
          description: 'a withdrawn consent is kept this long after its withdrawal (legal hold: the record of what was permitted), then deleted, audited',
        },
        idempotencyRetentionDays: {
          type: 'number',
          exclusiveMinimum: 0,
          default: 7,
          description: 'Idempotency-Keys are remembered this long (a sender retrying later gets a new message)',
        },
        requestTimeoutMs: { type: 'integer', minimum: 100, default: 30000 },
        headersTimeoutMs: { type: 'integer', minimum: 100, default: 10000 },
        maxConnections: { type: 'integer', minimum: 1, default: 2048 },
        mllpMaxFrameBytes: { type: 'integer', minimum: 1024, default: 8388608 },
        mllpIdleTimeoutMs: { type: 'integer', minimum: 1000, default: 300000 },
        mllpMaxConnections: { type: 'integer', minimum: 1, default: 256 },
        mllpMaxPendingBytesPerConnection: {
          type: 'integer',
          minimum: 65536,
          default: 16777216,
          description: 'bytes of HL7 v2 frames one connection may have received but not yet answered before reading from it pauses',
        },
        mllpMaxPendingBytes: {
          type: 'integer',
          minimum: 65536,
          default: 67108864,
          description: 'the same, summed over all MLLP connections: busy connections pause until answers bring it under',
        },
      },
    },
    requireSignedPolicies: {
      type: 'boolean',
      description: 'the same as policy.requireSigned (the name the policy issue uses); either being true requires signed policies',
    },
    policy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: { type: 'string', default: './policies/pk', description: 'policy file or folder' },
        requireSigned: { type: 'boolean', default: false },
        trustedSigners: { type: 'array', items: { type: 'string' }, default: [], description: 'base64 Ed25519 public keys' },
        profilesDir: { type: 'string', default: './policies/profiles', description: 'de-identification profiles' },
      },
    },
    destinations: {
      type: 'array',
      minItems: 0,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url', 'country', 'kind'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', description: 'lower-case name, e.g. national-telemed' },
          url: { type: 'string', pattern: '^https?://', description: 'an http:// or https:// URL' },
          country: { type: 'string', pattern: '^[A-Z]{2}$', description: 'a 2-letter ISO 3166 country code, e.g. PK' },
          region: { type: 'string' },
          kind: { type: 'string', enum: ['treatment', 'public-health', 'research', 'ai-service', 'registry', 'other'] },
          organization: { type: 'string', description: 'consent actor id (Organization/<id>)' },
          format: { type: 'string', enum: ['fhir', 'hl7v2'], default: 'fhir' },
          consentModel: { type: 'string', enum: ['opt-in', 'opt-out'], default: 'opt-in' },
          timeoutMs: { type: 'integer', minimum: 100, default: 10000 },
          concurrency: { type: 'integer', minimum: 1, maximum: 256, default: 8 },
          retry: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              maxAttempts: { type: 'integer', minimum: 1, default: 50 },
              baseDelayMs: { type: 'integer', minimum: 1, default: 500 },
              maxDelayMs: { type: 'integer', minimum: 1, default: 300000 },
              maxAgeMs: { type: 'integer', minimum: 1000, default: 1209600000 },
            },
          },
          seal: { type: 'boolean', default: true, description: 'seal payloads to the recipient key (policy may require it regardless)' },
          recipientPublicKey: { type: 'string', description: 'base64 X25519 key; default: certs/recipient-<name>.pub' },
          recipientKeyId: { type: 'string' },
          tls: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ca: { type: 'string' },
              cert: { type: 'string' },
              key: { type: 'string' },
              pinSha256: { type: 'array', items: { type: 'string' } },
            },
          },
          compress: { type: 'string', enum: ['gzip', 'br'], description: 'compress payloads before sealing (meta.contentEncoding); the receiver must decompress' },
          batch: {
            type: 'object',
            additionalProperties: false,
            description: 'the destination takes batches (application/vnd.darwaza.batch.v1)',
            properties: {
              maxItems: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
              maxBytes: { type: 'integer', minimum: 1024, default: 262144 },
            },
          },
          resumable: {
            type: 'object',
            additionalProperties: false,
            required: ['aboveBytes'],
            description: 'envelopes of at least aboveBytes are uploaded resumably with tus (the receiver kit serves it)',
            properties: {
              aboveBytes: { type: 'integer', minimum: 1024 },
              path: { type: 'string', pattern: '^/', default: '/tus/', description: 'the receiver\'s tus endpoint, relative to the destination url' },
              chunkBytes: { type: 'integer', minimum: 16384, default: 262144 },
            },
          },
          bandwidthBytesPerSec: { type: 'integer', minimum: 128, description: 'cap on bytes/s sent to this destination (token bucket)' },
          laneWindows: {
            type: 'object',
            additionalProperties: false,
            description: 'lanes that may only be sent in a daily window of the gateway time zone, e.g. {"research": {"from": "22:00", "to": "06:00"}}',
            properties: Object.fromEntries(
              ['emergency', 'treatment', 'public-health', 'research'].map((lane) => [
                lane,
                {
                  type: 'object',
                  additionalProperties: false,
                  required: ['from', 'to'],
                  properties: { from: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }, to: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' } },
                },
              ]),
            ),
          },
        },
      },
    },
    routes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'destinations'],
        properties: {
          name: { type: 'string', minLength: 1 },
          match: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              format: { type: 'array', items: { type: 'string', enum: ['fhir', 'hl7v2'] } },
              purpose: { type: 'array', items: purpose },
              resourceTypes: { type: 'array', items: { type: 'string' } },
              source: { type: 'array', items: { type: 'string' } },
              messageType: { type: 'array', items: { type: 'string' }, description: 'HL7 v2 MSH-9, e.g. ADT^A01' },
            },
          },
          destinations: { type: 'array', items: { type: 'string' }, minItems: 1 },
          opaque: { type: 'boolean', default: false, description: 'route unmapped HL7 v2 message types as opaque v2' },
        },
      },
    },
    mllp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        breakGlass: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'where an HL7 v2 message asks for break-glass (purpose ETREAT) and gives its reason; HL7 v2 has no purpose-of-use field, so a Z-segment by default (see docs/security.md)',
          properties: {
            purposeField: { type: 'string', pattern: '^[A-Z][A-Z0-9]{2}-\\d{1,3}(\\.\\d{1,2})?$', default: 'ZBG-1', description: 'SEG-n[.c] holding the purpose of use code (ETREAT asks for break-glass)' },
            reasonField: { type: 'string', pattern: '^[A-Z][A-Z0-9]{2}-\\d{1,3}(\\.\\d{1,2})?$', default: 'ZBG-2', description: 'SEG-n[.c] holding the break-glass reason (free text; audited with digits scrubbed)' },
          },
        },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        treeHeadCron: { type: 'string', default: '* * * * *' },
        treeHeadEveryEntries: { type: 'integer', minimum: 1, default: 10000 },
        atna: {
          type: 'object',
          additionalProperties: false,
          required: ['host', 'port'],
          properties: { host: { type: 'string' }, port: { type: 'integer' }, ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
        },
      },
    },
    keys: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        kek: { type: 'string', enum: ['file', 'env', 'passphrase'], default: 'file', description: 'where the key-encryption key comes from' },
        rotateCron: { type: 'string', description: 'scheduled signing-key rotation (node-cron), off when absent' },
        overlapDays: { type: 'number', minimum: 0, default: 30, description: 'days a rotated-out signing key stays trusted' },
      },
    },
    dispatcher: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        pollMs: { type: 'integer', minimum: 10, default: 1000, description: 'idle poll per destination (new messages also wake it at once)' },
        breakerFailures: { type: 'integer', minimum: 1, default: 5, description: 'consecutive failures that open a destination\'s circuit breaker' },
        breakerCooldownMs: { type: 'integer', minimum: 100, default: 30000, description: 'how long an open breaker waits before one probe delivery' },
      },
    },
    simulator: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        embedded: { type: 'boolean', default: false, description: 'demo: run the upstream simulator inside `start`' },
        listen: { ...hostPort, default: '127.0.0.1:9443' },
      },
    },
  },
} as const;
