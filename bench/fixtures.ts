/** Inputs shared by the benchmarks. */

/** A ~2 KB FHIR Observation (vital signs panel with components and narrative). */
export function observation(patientId: string, i = 0) {
  const components = ['8480-6|Systolic blood pressure|mm[Hg]|120', '8462-4|Diastolic blood pressure|mm[Hg]|80', '8867-4|Heart rate|/min|72', '9279-1|Respiratory rate|/min|16', '8310-5|Body temperature|Cel|37.1', '59408-5|Oxygen saturation|%|98'];
  return {
    resourceType: 'Observation',
    id: `obs-${i}`,
    meta: { profile: ['http://hl7.org/fhir/StructureDefinition/vitalsigns'] },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs', display: 'Vital Signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85353-1', display: 'Vital signs, weight, height, head circumference, oxygen saturation and BMI panel' }], text: 'Vital signs panel' },
    subject: { reference: `Patient/${patientId}` },
    encounter: { reference: 'Encounter/enc-1' },
    effectiveDateTime: '2026-11-20T09:30:00+05:00',
    issued: '2026-11-20T09:31:00+05:00',
    performer: [{ reference: 'Practitioner/pr-1', display: 'Duty nurse' }],
    component: components.map((c) => {
      const [code, display, unit, value] = c.split('|');
      return {
        code: { coding: [{ system: 'http://loinc.org', code, display }], text: display },
        valueQuantity: { value: Number(value), unit, system: 'http://unitsofmeasure.org', code: unit },
        interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'N', display: 'Normal' }] }],
      };
    }),
    note: [{ text: 'Routine observation round; patient comfortable, no complaints. Repeat in four hours.' }],
  };
}

/**
 * The Patient that observation() is about: an adult with a birth date. Posted once before the
 * observations, it lets the gateway remember the patient's age; without it the age is unknown,
 * and an unknown age is read as a minor's (only a guardian's consent permits).
 */
export function patientFor(patientId: string, birthDate = '1980-05-01') {
  return { resourceType: 'Patient', id: patientId, gender: 'female', birthDate };
}

/** A Consent permitting treatment disclosures of this patient to national-telemed. */
export function consentFor(patientId: string) {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: '2026-01-01T00:00:00+05:00',
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: {
      type: 'permit',
      period: { start: '2026-01-01T00:00:00+05:00', end: '2030-12-31T23:59:59+05:00' },
      actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/national-telemed' } }],
      purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'ETREAT' }],
    },
  };
}
