/**
 * The Provenance that records a de-identification: what was derived (targets),
 * when, by whom (darwaza), under which profile (name + SHA-256 of its canonical
 * JSON, in Provenance.policy). For a Bundle it is appended as an entry (with a
 * request for transaction/batch bundles); for a single resource it is returned
 * beside it.
 */
import { randomUUID } from 'node:crypto';
import type { FhirResource } from '../model/index.js';

export const PROFILE_POLICY_PREFIX = 'urn:darwaza:sanitize-profile:';

export interface ProvenanceInput {
  name: string;
  sha256: string;
  at: Date;
  /** Hashes ids like the profile's cryptoHash did, so targets match the output's references. */
  hash: ((s: string) => string) | null;
}

export function makeProvenance(out: FhirResource, p: ProvenanceInput): FhirResource {
  const targets: Array<{ reference: string }> = [];
  const entries = out.resourceType === 'Bundle' && Array.isArray(out.entry) ? (out.entry as Array<Record<string, unknown>>) : null;
  if (entries) {
    for (const e of entries) {
      const r = e.resource as FhirResource | undefined;
      if (typeof e.fullUrl === 'string') targets.push({ reference: e.fullUrl });
      else if (r && typeof r.id === 'string') targets.push({ reference: `${r.resourceType}/${r.id}` });
    }
  } else if (typeof out.id === 'string') targets.push({ reference: `${out.resourceType}/${out.id}` });
  const prov: FhirResource = {
    resourceType: 'Provenance',
    id: randomUUID(),
    meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'ANONYED', display: 'anonymized' }] },
    target: targets.length ? targets : [{ display: `de-identified ${out.resourceType}` }],
    recorded: p.at.toISOString(),
    policy: [`${PROFILE_POLICY_PREFIX}${p.name}#sha256:${p.sha256}`],
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE', display: 'revise' }],
      text: `de-identified with profile ${p.name}`,
    },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler', display: 'Assembler' }] },
        who: { display: 'darwaza gateway' },
      },
    ],
    entity: [{ role: 'derivation', what: { display: `source data, de-identified by profile ${p.name} (sha256 ${p.sha256})` } }],
  };
  if (entries) {
    const entry: Record<string, unknown> = { fullUrl: `urn:uuid:${prov.id}`, resource: prov };
    if (out.type === 'transaction' || out.type === 'batch') entry.request = { method: 'POST', url: 'Provenance' };
    entries.push(entry);
  }
  return prov;
}
