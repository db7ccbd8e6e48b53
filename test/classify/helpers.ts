/** Shared fixtures for the classification tests: a small patient bundle with an HIV diagnosis. */
import type { FhirResource } from '../../src/model/index.js';

export const NOW = new Date('2026-06-01T00:00:00Z');
export const ICD = 'http://hl7.org/fhir/sid/icd-10';
export const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
export const OBSV = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
export const CNIC = '35202-1234567-1';

export const patient = (extra: Partial<FhirResource> = {}): FhirResource => ({
  resourceType: 'Patient',
  id: 'ali',
  identifier: [{ system: 'http://nadra.gov.pk/cnic', value: CNIC }],
  name: [{ family: 'Khan', given: ['Ali'] }],
  birthDate: '1980-03-04',
  ...extra,
});

export const hivCondition = (extra: Partial<FhirResource> = {}): FhirResource => ({
  resourceType: 'Condition',
  subject: { reference: 'Patient/ali' },
  code: { coding: [{ system: ICD, code: 'B20', display: 'HIV disease' }] },
  ...extra,
});

export const hivBundle = (extra: Partial<FhirResource> = {}): FhirResource => ({
  resourceType: 'Bundle',
  type: 'collection',
  entry: [{ fullUrl: 'urn:uuid:p', resource: patient() }, { fullUrl: 'urn:uuid:c', resource: hivCondition() }],
  ...extra,
});

export const b64 = (s: string | object) => Buffer.from(typeof s === 'string' ? s : JSON.stringify(s), 'utf8').toString('base64');
export const codes = (labels: Array<{ code?: string }>) => labels.map((l) => l.code);
