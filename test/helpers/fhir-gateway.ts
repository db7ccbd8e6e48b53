/**
 * A real gateway for the FHIR client-library tests: in process, with its real LAN
 * listener on a free loopback port, real API tokens (a sender's, for the clients), the
 * repository's Pakistan policy pack, and an active Consent for one patient so that data
 * about that patient is queued (data about anyone else is denied, as in production).
 */
import { startFixture } from '../auth/gateway-fixture.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

export interface FhirGateway {
  /** The FHIR base, e.g. http://127.0.0.1:1234/fhir */
  baseUrl: string;
  /** A bearer token with the sender (and consent-writer) role. */
  senderToken: string;
  /** The patient with an active Consent for TREAT at national-telemed. */
  patient: string;
  observation(i: number, patient?: string): ReturnType<typeof observation>;
}

export async function startFhirGateway(t: { testdir(): string; teardown(fn: () => unknown): void }, patient = 'p-interop'): Promise<FhirGateway> {
  // No loopback trust (the demo's): every request needs its token, as on a hospital LAN.
  const f = await startFixture(t, { patch: (c) => void (c.access = {}) });
  // One identity both registers the consent and sends: a patient's plain id is namespaced by
  // the sender, so the consent must come from the same system as the data (as an EHR's would).
  const senderToken = f.token('interop-ehr', ['sender', 'consent-writer']);
  // The Patient first, so the gateway knows the age (an unknown age is read as a minor's).
  const registered = await f.http('lan', 'POST', '/fhir/Patient', patientFor(patient), { authorization: `Bearer ${senderToken}` });
  if (registered.status !== 202) throw new Error(`the fixture patient was not accepted (${registered.status})`);
  const consent = await f.http('lan', 'POST', '/fhir/Consent', consentFor(patient), { authorization: `Bearer ${senderToken}` });
  if (consent.status !== 201) throw new Error(`the fixture consent was not created (${consent.status})`);
  return {
    baseUrl: `http://127.0.0.1:${f.gw.lanPort}/fhir`,
    senderToken,
    patient,
    observation: (i, p = patient) => observation(p, i),
  };
}
