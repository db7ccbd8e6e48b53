/**
 * GET /fhir/Consent?patient=… answered from listed latest versions: a searchset Bundle of the
 * matches, and an outcome entry counting the versions that could not be read. One answer for
 * every consent store.
 */
import type { FhirResource } from '../model/index.js';
import type { StoredConsentWithResource } from './types.js';

export function consentSearchset(listed: StoredConsentWithResource[] & { unreadable: number }, status: string | undefined): FhirResource {
  const found = listed.filter((c) => status === undefined || c.status === status);
  const entry: unknown[] = found.map((c) => ({ fullUrl: `Consent/${c.id}`, resource: c.resource, search: { mode: 'match' } }));
  if (listed.unreadable > 0) {
    entry.push({
      resource: {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'warning', code: 'security', diagnostics: `${listed.unreadable} consent(s) could not be read (altered, or no key)` }],
      },
      search: { mode: 'outcome' },
    });
  }
  return { resourceType: 'Bundle', type: 'searchset', total: found.length, entry };
}
