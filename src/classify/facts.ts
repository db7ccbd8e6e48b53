/**
 * What classification learns from content before it decides: codes' categories, the
 * people the content is about, and whether any part could not be read. Filled by the
 * FHIR walk (walk.ts) and the HL7 v2 scan (v2.ts); turned into a Classification by
 * decide.ts. Reasons never quote content (no PHI).
 */
import type { Category, Coding, PatientIdentity } from '../model/index.js';

export interface Facts {
  categories: Set<Category>;
  /** Sensitivity tags (v3-ActCode) to label with. */
  tags: Set<string>;
  /** Labels the sender put on the data (meta.security at any depth). */
  security: Coding[];
  resourceTypes: Set<string>;
  /** Patient or Person resources found anywhere, in document order. */
  patients: PatientIdentity[];
  /** Identifiers and references that point at the patient (cnic|…, Patient/…, system|value). */
  refIds: string[];
  /** CNICs seen in displays, narrative, attachments or v2 text. */
  textCnics: string[];
  /** Something names or identifies a person (RelatedPerson, a display, narrative, a v2 PID …). */
  person: boolean;
  /** Clinical content is present (anything but directory/terminology resources). */
  clinical: boolean;
  /** Some content could not be read (undecodable attachment, unparseable v2 …). */
  opaque: boolean;
  reasons: Set<string>;
}

export const newFacts = (): Facts => ({
  categories: new Set(),
  tags: new Set(),
  security: [],
  resourceTypes: new Set(),
  patients: [],
  refIds: [],
  textCnics: [],
  person: false,
  clinical: false,
  opaque: false,
  reasons: new Set(),
});

/** Add everything `b` found to `a` (labels and categories only ever accumulate). */
export function mergeFacts(a: Facts, b: Facts): Facts {
  for (const c of b.categories) a.categories.add(c);
  for (const t of b.tags) a.tags.add(t);
  a.security.push(...b.security);
  for (const r of b.resourceTypes) a.resourceTypes.add(r);
  for (const p of b.patients) if (!a.patients.some((q) => q.key === p.key)) a.patients.push(p);
  a.refIds.push(...b.refIds);
  a.textCnics.push(...b.textCnics);
  a.person ||= b.person;
  a.clinical ||= b.clinical;
  a.opaque ||= b.opaque;
  for (const r of b.reasons) a.reasons.add(r);
  return a;
}

/**
 * Resource types that carry no patient data by themselves: directories, terminology,
 * definitions, containers. Every other type (and any unknown one) counts as clinical.
 */
export const NON_CLINICAL_TYPES = new Set([
  'Organization', 'OrganizationAffiliation', 'Practitioner', 'PractitionerRole', 'Location', 'Endpoint',
  'HealthcareService', 'Medication', 'MedicationKnowledge', 'Substance', 'SubstanceDefinition', 'Device',
  'DeviceDefinition', 'ValueSet', 'CodeSystem', 'ConceptMap', 'NamingSystem', 'StructureDefinition',
  'StructureMap', 'CapabilityStatement', 'OperationDefinition', 'SearchParameter', 'ImplementationGuide',
  'Library', 'Measure', 'ActivityDefinition', 'PlanDefinition', 'Questionnaire', 'ObservationDefinition',
  'SpecimenDefinition', 'OperationOutcome', 'Bundle', 'Parameters', 'Subscription', 'TerminologyCapabilities',
  'InsurancePlan', 'ResearchStudy', 'ChargeItemDefinition', 'EventDefinition', 'GraphDefinition',
  'MessageDefinition', 'CompartmentDefinition', 'ExampleScenario', 'TestScript', 'EffectEvidenceSynthesis',
  'Evidence', 'EvidenceVariable', 'RiskEvidenceSynthesis', 'MedicinalProduct', 'BiologicallyDerivedProduct',
]);
