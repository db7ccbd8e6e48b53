/**
 * src/sanitize — de-identification with FHIRPath rules in Microsoft's FHIR
 * anonymizer format (plus darwaza's free-text, ages and provenance extensions).
 *
 *   const p = await loadProfile('policies/profiles/pk-research.yaml', { keys });
 *   const { resource, changes } = p.apply(bundle);   // input is never mutated
 */
export {
  compileProfile,
  SanitizeError,
  ProfileError,
  InvalidInputError,
  type ApplyOptions,
  type Change,
  type CompiledProfile,
  type CompileOptions,
  type Operation,
  type SanitizeKeys,
  type SanitizeResult,
} from './engine.js';
export { loadProfile, loadProfiles, parseProfileText, profileNameOf, type LoadOptions } from './load.js';
export { diff, formatDiff, type DiffLine } from './diff.js';
export { PATTERNS } from './freetext.js';
export { METHODS, type Method, type ProfileSpec, type RuleSpec, type FreeTextSpec } from './profile.js';
export { PROFILE_POLICY_PREFIX } from './provenance.js';
export { labelDeidentified, withProvenance, deidentifiedForm } from './label.js';
export type { KeyMaterial } from './algorithms.js';
