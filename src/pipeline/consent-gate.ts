/**
 * The consent question needs a patient. Data that requires consent but whose patient
 * cannot be determined (clinical data with no subject, content that cannot be read) has no
 * consent to look up, so it is denied here, before the registry is asked: an unknown
 * patient never reaches an opt-out default that would permit. Pure; the reason is PHI-free.
 */
import type { Classification } from '../model/index.js';

/** The denial reason when consent is required and there is no patient to ask about, else undefined. */
export function noPatientForConsent(cls: Pick<Classification, 'opaque'>, patientTokens: readonly string[]): string | undefined {
  if (patientTokens.length) return undefined;
  return cls.opaque
    ? 'consent is required, and the content cannot be read, so there is no patient to look a consent up for'
    : 'consent is required, and no patient can be determined from the content, so there is no consent to look up';
}
