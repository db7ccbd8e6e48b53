/**
 * src/consent — FHIR R4 Consent registry, evaluation and enforcement hooks.
 * The one door of this folder: import only from here.
 */
export { ConsentRegistry, ConsentNotFoundError, ConsentUnreadableError, DEFAULT_CACHE_SIZE, DEFAULT_TOKEN_CACHE_SIZE, CIPHER_SCOPE } from './registry.js';
export type { PutOptions, ConsentRegistryOptions, PutResult, PutManyResult, WithdrawInfo, WithdrawListener } from './registry.js';
export { evaluateConsent, acceptedScopes, consentPurposes, PURPOSE_COVERS, CONTAINER_TYPES } from './evaluate.js';
export { compileConsent, validateConsent, ConsentValidationError, MAX_PROVISION_DEPTH, MAX_PROVISIONS } from './compile.js';
export {
  patientIdStrings,
  normalizePatientReference,
  normalizeIdentifier,
  normalizePatientIdStrings,
  tokensForIds,
  tokensByKind,
  scopeIds,
  isStrongId,
  isWeakId,
  identityConflict,
  DEFAULT_SOURCE,
} from './ids.js';
export { PatientMemory, resolvePatientTokens, PATIENT_MEMORY_MIGRATIONS, MEMORY_CIPHER_SCOPE } from './memory.js';
export type { PatientMemoryOptions } from './memory.js';
export type { PatientRefLike, IdentifierLike } from './ids.js';
export { consentHandlers } from './http.js';
export type { ConsentHandlers, HandlerResult, SearchQuery } from './http.js';
export { consentRequest, consentContext, requestFromContext, defaultForModel, type ConsentRequestInput } from './context.js';
export { CATEGORY_CODES, categoryOfCode, categoriesOfLabels } from './labels.js';
export { DEFAULT_TIMEZONE, parseFhirDateTime, isValidTimezone, zoneOffsetMinutes } from './time.js';
export { hmacTokenizer, loadOrCreateTokenKey } from './tokenize.js';
export {
  CONSENT_STATUSES,
  WITHDRAWN_STATUSES,
  DEFAULT_ACTIONS,
  DEFAULT_RECIPIENT_ROLES,
  DEFAULT_MINOR_AGE,
} from './types.js';
export type {
  ConsentStatus,
  ConsentActor,
  ConsentRequest,
  ConsentContext,
  CompiledConsent,
  CompiledProvision,
  CompiledActor,
  StoredConsent,
  StoredConsentWithResource,
} from './types.js';
export { dataPeriodOf, dataReferencesOf, DATA_DATE_FIELDS, DATA_PERIOD_FIELDS } from './data.js';
export { sqliteConsentStore, sqlitePatientFacts, loadPatientSnapshot, snapshotBindings, applyPatientWrites, loadPatientView } from './ports.js';
export type { ConsentStore, PatientFacts, PatientSnapshot, PatientWrite, PatientView } from './ports.js';
export * from './postgres/index.js';
