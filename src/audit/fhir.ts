/**
 * One audit entry as a FHIR R4 AuditEvent (for `audit export --format fhir` and
 * the ATNA feed). The leaf index and leaf hash ride along in an extension so each
 * resource can be tied back to the verifiable log. Only the entry's own (PHI-free)
 * fields are used: the patient appears as the pseudonymous token, never an identity.
 */
import type { FhirResource } from '../model/index.js';
import type { AuditEntry } from './entry.js';
import { leafHash } from './merkle.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const FHIR_SYSTEMS = {
  eventType: 'urn:darwaza:audit-event-type',
  messageId: 'urn:darwaza:message-id',
  patientToken: 'urn:darwaza:patient-token',
  system: 'urn:darwaza:system',
  leaf: 'urn:darwaza:audit-leaf',
} as const;

const ACTION: Record<string, string> = { received: 'C', purged: 'D' };

function outcome(e: AuditEntry): string {
  if (e.event === 'dead-lettered') return '8';
  if (e.decision === 'deny' || e.decision === 'denied') return '4';
  return '0';
}

export function toFhirAuditEvent(index: number, text: string, e: AuditEntry): FhirResource {
  const type =
    e.event === 'delivered'
      ? { system: DCM, code: '110106', display: 'Export' }
      : e.event === 'received'
        ? { system: DCM, code: '110107', display: 'Import' }
        : { system: FHIR_SYSTEMS.eventType, code: e.event };
  const agent: unknown[] = [];
  if (e.source) agent.push({ who: { identifier: { system: FHIR_SYSTEMS.system, value: e.source } }, requestor: true, name: e.source });
  if (e.destination) {
    agent.push({
      who: { identifier: { system: FHIR_SYSTEMS.system, value: e.destination } },
      requestor: false,
      name: e.destination,
      ...(e.policySha256 ? { policy: [`urn:sha256:${e.policySha256}`] } : {}),
    });
  }
  if (e.actor) agent.push({ who: { identifier: { system: FHIR_SYSTEMS.system, value: e.actor } }, requestor: true, name: e.actor });
  if (agent.length === 0) agent.push({ who: { display: 'darwaza gateway' }, requestor: false });
  const entity: unknown[] = [];
  if (e.messageId) {
    entity.push({
      what: { identifier: { system: FHIR_SYSTEMS.messageId, value: e.messageId } },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      ...(e.dataClasses?.length ? { detail: [{ type: 'dataClasses', valueString: e.dataClasses.join(' ') }] } : {}),
    });
  }
  if (e.patientToken) {
    entity.push({
      what: { identifier: { system: FHIR_SYSTEMS.patientToken, value: e.patientToken } },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    });
  }
  if (e.consentId) {
    entity.push({
      what: { identifier: { value: e.consentId } },
      type: { system: 'http://hl7.org/fhir/resource-types', code: 'Consent' },
      ...(e.consentVersion ? { detail: [{ type: 'version', valueString: e.consentVersion }] } : {}),
    });
  }
  return {
    resourceType: 'AuditEvent',
    id: `darwaza-audit-${index}`,
    extension: [
      {
        url: FHIR_SYSTEMS.leaf,
        extension: [
          { url: 'index', valueInteger: index },
          { url: 'leafHash', valueString: leafHash(text).toString('hex') },
          ...(e.ruleIds?.length ? [{ url: 'ruleIds', valueString: e.ruleIds.join(' ') }] : []),
          ...(e.decision ? [{ url: 'decision', valueString: e.decision }] : []),
        ],
      },
    ],
    type,
    subtype: [{ system: FHIR_SYSTEMS.eventType, code: e.event }],
    action: ACTION[e.event] ?? 'E',
    recorded: e.time,
    outcome: outcome(e),
    ...(e.reason ? { outcomeDesc: e.reason } : {}),
    ...(e.purpose ? { purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: e.purpose }] }] } : {}),
    agent,
    source: {
      observer: { display: 'darwaza gateway' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    ...(entity.length ? { entity } : {}),
  };
}
