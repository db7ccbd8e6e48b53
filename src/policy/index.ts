/**
 * Policy: files a regulator can read, test, sign and trace every decision to.
 * The face the pipeline and the CLI use.
 */
export { compilePolicy, lintPolicyText } from './compile.js';
export { decide } from './decide.js';
export { explain, describeObligation } from './explain.js';
export { loadPolicy, resolvePolicyFile, watchPolicy, refusalOf, POLICY_FILE, DEFAULT_WATCH_DEBOUNCE_MS } from './load.js';
export type { LoadOptions, WatchOptions, PolicyWatcher, PolicyRefusal } from './load.js';
export { readPack, PACK_FORMAT } from './pack.js';
export {
  checkConfigAgainstPack,
  resolveDestinations,
  recipientKeyFingerprint,
  isLoopbackHost,
  withPackFacts,
  PackMismatchError,
} from './destinations.js';
export type { ConfigDestination, PackProblem, ResolvedDestination } from './destinations.js';
export { unsignedPolicyWarning } from './warnings.js';
export { canonicalBytes, sha256Hex, POLICY_SCHEMA } from './parse.js';
export {
  signPolicy,
  verifyPolicy,
  signPack,
  verifyPack,
  generateSigningKey,
  parseSigningKey,
  parseSignature,
  keyIdOf,
} from './sign.js';
export type { PolicySignature, SigningKey, VerifyResult } from './sign.js';
export { runPolicyTests, findTestFiles } from './testing.js';
export type { TestCaseResult, TestFileResult, TestRunResult } from './testing.js';
export { PolicyError, formatFinding, EMBEDDED_SIMULATOR_KEY } from './types.js';
export type {
  CompiledPolicy,
  PackDestination,
  PackFile,
  PolicyPack,
  RefusalCode,
  SanitizeProfileDecl,
  CompiledRule,
  Decision,
  LintFinding,
  PolicyDestination,
  PolicyFile,
  PolicyInput,
  TraceStep,
} from './types.js';
