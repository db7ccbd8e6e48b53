/**
 * The CapabilityStatement darwaza answers at GET /fhir/metadata: what a FHIR client may
 * do here. darwaza is a gateway, not a FHIR store: every resource type may be created
 * (POSTed, judged per destination and queued); batch and transaction Bundles (and message
 * Bundles) go to the base; Consent alone is kept, so it alone has read, search, update and
 * delete. A pure function of the options: the same gateway answers the same statement.
 */
import type { FhirResource } from '../model/index.js';
import { RESOURCE_TYPES } from './validate.js';
import { DECISION_MEDIA_TYPE } from './negotiate.js';

export interface CapabilityOptions {
  /** darwaza's version (software.version). */
  version: string;
  /** Publication date of this statement (the gateway's start). ISO date-time. */
  date: string;
  /** The base URL clients reached, when known (implementation.url). */
  baseUrl?: string;
  /** Client certificates (mTLS) are how senders authenticate on this listener. */
  certificates: boolean;
  /** API tokens (`Authorization: Bearer …`) are accepted. */
  bearerTokens: boolean;
}

const SECURITY_SERVICE = 'http://terminology.hl7.org/CodeSystem/restful-security-service';

/** What darwaza is, in the words every refusal of an unsupported interaction repeats. */
export const GATEWAY_NOT_STORE =
  'darwaza is a privacy gateway, not a FHIR store: it accepts resources (create) and Bundles (batch, transaction, message) to judge and forward them, and keeps none to read, search, update or delete (FHIR Consent excepted)';

export function capabilityStatement(o: CapabilityOptions): FhirResource {
  const services: object[] = [];
  if (o.certificates) {
    services.push({ coding: [{ system: SECURITY_SERVICE, code: 'Certificates', display: 'Certificates' }], text: 'mutual TLS: a client certificate from the gateway CA names the sender' });
  }
  if (o.bearerTokens) {
    // No code of the (extensible) value set means a static bearer token; OAuth would send clients looking for an authorization server.
    services.push({ text: 'Bearer API tokens: Authorization: Bearer <token>, issued by `darwaza tokens create`; each token carries roles' });
  }
  const types = [...RESOURCE_TYPES].filter((t) => t !== 'Consent').sort();
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: o.date,
    publisher: 'darwaza',
    kind: 'instance',
    software: { name: 'darwaza', version: o.version },
    implementation: {
      description: 'darwaza privacy-first edge gateway: LAN FHIR API',
      ...(o.baseUrl ? { url: o.baseUrl } : {}),
    },
    fhirVersion: '4.0.1',
    format: ['json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        documentation: `${GATEWAY_NOT_STORE}. A create answers 202 Accepted with Location /messages/{id} (where the message stands per destination) and honours Prefer: return=minimal | representation | OperationOutcome. darwaza's own decision JSON is served for Accept: ${DECISION_MEDIA_TYPE}. JSON only: XML bodies answer 415. Headers: X-Purpose-Of-Use (HL7 v3 PurposeOfUse, default from the configuration), X-Destination, Idempotency-Key.`,
        security: {
          cors: false,
          ...(services.length ? { service: services } : {}),
          description: 'Every request needs an authenticated identity with a role; senders need the sender role to create. See the role matrix in the gateway documentation.',
        },
        resource: [
          {
            type: 'Consent',
            documentation: 'The consent registry: Consents are kept (versioned) and decide what may leave.',
            interaction: ['create', 'read', 'vread', 'update', 'delete', 'search-type'].map((code) => ({ code })),
            versioning: 'versioned',
            readHistory: false,
            updateCreate: false,
            conditionalCreate: false,
            conditionalRead: 'not-supported',
            conditionalUpdate: false,
            conditionalDelete: 'not-supported',
            searchParam: [
              { name: 'patient', type: 'reference', documentation: 'Required: a reference, an id, or system|value' },
              { name: 'status', type: 'token' },
            ],
          },
          ...types.map((type) => ({
            type,
            interaction: [{ code: 'create', documentation: 'Judged per destination and queued; not stored for reading back' }],
            versioning: 'no-version',
            conditionalCreate: false,
          })),
        ],
        interaction: [
          { code: 'batch', documentation: 'Each entry is judged as its own message; answers a batch-response Bundle' },
          { code: 'transaction', documentation: 'All or nothing per destination; answers a transaction-response Bundle' },
        ],
      },
    ],
  };
}
