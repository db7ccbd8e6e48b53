/**
 * Policy test files (*.test.yaml), like `opa test`: each case describes a message, a
 * destination, a purpose and a consent state, and the decision and obligations expected.
 * The runner reports pass/fail per case and which rules no case exercises.
 *
 *   policy: pk.policy.yaml            # beside the test file (default: the one *.policy.* there)
 *   now: 2026-06-01T00:00:00Z         # optional clock for ages
 *   destinations:                     # the destinations cases refer to (unknown names stay unknown)
 *     - { name: national-telemed, country: PK, kind: treatment }
 *   cases:
 *     - name: identifiable data to a foreign destination is denied
 *       destination: foreign-telemed
 *       purpose: TREAT
 *       data: { identifiable: true, categories: [mental-health], ageYears: 40 }   # or resource: {FHIR} or message: file.json
 *       consent: permit | deny | none  # the consent evaluator's answer, when the decision requires consent
 *       expect:
 *         decision: deny                # the policy's decision
 *         outcome: deny                 # after consent (needs `consent`)
 *         rules: [identifiable-data-stays-in-pakistan]
 *         obligations: [require-consent:mental-health, label:NORDSCLCDS, sanitize:pk-research, seal]
 *         without: [require-consent]
 *         deidentified: true
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { classify, mergeLabels, CATEGORY_TAGS } from '../classify/index.js';
import { CATEGORIES, isPurposeOfUse, SYSTEMS, type Category, type Classification, type Coding, type FhirResource, type Obligation, type PurposeOfUse } from '../model/index.js';
import { labelKey } from './conditions.js';
import { decide } from './decide.js';
import { loadPolicy, resolvePolicyFile } from './load.js';
import type { CompiledPolicy, Decision, PolicyDestination } from './types.js';

export interface TestCaseResult {
  name: string;
  line: number;
  pass: boolean;
  failures: string[];
  decision?: Decision;
  outcome?: 'permit' | 'deny' | 'needs-consent';
}

export interface TestFileResult {
  file: string;
  policyFile?: string;
  policyId?: string;
  error?: string;
  cases: TestCaseResult[];
  rules: string[];
  uncovered: string[];
}

export interface TestRunResult {
  files: TestFileResult[];
  passed: number;
  failed: number;
  /** Rules exercised / rules in the policies tested, 0–100. */
  coverage: number;
}

interface DataDescription {
  identifiable?: boolean;
  categories?: Category[];
  labels?: string[];
  ageYears?: number | null;
  resourceTypes?: string[];
  /** The form leaving holds content darwaza could not classify (PolicyInput.opaque). */
  opaque?: boolean;
}

interface CaseSpec {
  name?: string;
  destination?: string;
  purpose?: string;
  source?: string;
  data?: DataDescription;
  resource?: FhirResource;
  message?: string;
  consent?: 'permit' | 'deny' | 'none';
  expect?: {
    decision?: 'permit' | 'deny';
    outcome?: 'permit' | 'deny' | 'needs-consent';
    rules?: string[];
    obligations?: string[];
    without?: string[];
    deidentified?: boolean;
  };
}

interface TestFileSpec {
  policy?: string;
  now?: string;
  destinations?: PolicyDestination[];
  cases?: CaseSpec[];
}

export const TEST_FILE = /\.test\.(ya?ml|json)$/;

/** Every *.test.yaml under a file or directory, sorted. */
export async function findTestFiles(path: string): Promise<string[]> {
  const s = await stat(path);
  if (!s.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of (await readdir(path)).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(path, name);
    const st = await stat(p);
    if (st.isDirectory()) out.push(...(await findTestFiles(p)));
    else if (TEST_FILE.test(name)) out.push(p);
  }
  return out;
}

const labelCoding = (code: string): Coding => {
  const [system, c] = labelKey(code).split('|');
  return { system, code: c };
};

/** A classification from a plain description: labels derived as classify() would. */
export function describedClassification(d: DataDescription): Classification {
  const identifiable = d.identifiable ?? true;
  const categories = CATEGORIES.filter((c) => (d.categories ?? []).includes(c));
  const derived: Coding[] = [];
  if (identifiable) derived.push({ system: SYSTEMS.confidentiality, code: categories.length ? 'R' : 'N' });
  else derived.push({ system: SYSTEMS.confidentiality, code: 'L' });
  for (const c of categories) derived.push({ system: SYSTEMS.actCode, code: CATEGORY_TAGS[c][0] });
  const given = (d.labels ?? []).map((l) => (l.includes('|') ? { system: l.split('|')[0], code: l.split('|')[1] } : labelCoding(l)));
  return {
    patient: identifiable ? { key: 'test-patient', ids: ['Patient/test-patient'] } : null,
    ageYears: d.ageYears ?? null,
    categories,
    labels: mergeLabels(given, derived),
    resourceTypes: d.resourceTypes ?? ['Bundle'],
    identifiable,
  };
}

/** "kind" or "kind:detail" — does the decision carry such an obligation? */
function hasObligation(obls: Obligation[], want: string): boolean {
  const [kind, detail] = want.split(':', 2);
  return obls.some((o) => {
    if (o.kind !== kind) return false;
    if (detail === undefined) return true;
    switch (o.kind) {
      case 'require-consent':
        return (o.categories ?? []).includes(detail as Category) || (o.purposes ?? []).includes(detail as PurposeOfUse);
      case 'sanitize':
        return o.profile === detail;
      case 'label':
        return o.labels.some((l) => l.code === detail);
      case 'seal':
        return String(o.required) === detail || (detail === 'required' && o.required);
    }
  });
}

/** The outcome once the consent evaluator has answered. */
export function outcomeAfterConsent(decision: Decision, consent: 'permit' | 'deny' | 'none' | undefined): 'permit' | 'deny' | 'needs-consent' {
  if (decision.effect === 'deny') return 'deny';
  if (!decision.obligations.some((o) => o.kind === 'require-consent')) return 'permit';
  if (decision.exceptions.length) return 'permit';
  if (consent === undefined) return 'needs-consent';
  return consent === 'permit' ? 'permit' : 'deny';
}

async function runFile(file: string): Promise<TestFileResult> {
  const result: TestFileResult = { file, cases: [], rules: [], uncovered: [] };
  const text = await readFile(file, 'utf8');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const p = e.linePos?.[0] ?? { line: 1, col: 1 };
    result.error = `${file}:${p.line}:${p.col}: bad YAML: ${e.message.split('\n')[0]}`;
    return result;
  }
  const spec = (doc.toJS() ?? {}) as TestFileSpec;
  let policy: CompiledPolicy;
  try {
    const policyPath = spec.policy ? resolve(dirname(file), spec.policy) : await resolvePolicyFile(dirname(file));
    result.policyFile = policyPath;
    policy = await loadPolicy(policyPath);
  } catch (err) {
    result.error = `${file}: cannot load its policy: ${(err as Error).message}`;
    return result;
  }
  result.policyId = policy.id;
  result.rules = policy.rules.map((r) => r.id);
  const now = spec.now ? new Date(spec.now) : new Date();
  const destinations = new Map((spec.destinations ?? []).map((d) => [d.name, d]));
  const exercised = new Set<string>();
  const casesNode = doc.get('cases', true) as { items?: Array<{ range?: [number, number, number] }> } | undefined;
  for (const [i, c] of (spec.cases ?? []).entries()) {
    const line = lc.linePos(casesNode?.items?.[i]?.range?.[0] ?? 0).line;
    const name = c.name ?? `case ${i + 1}`;
    const failures: string[] = [];
    // A typo in a test must not make it pass vacuously.
    const shapeProblems = checkCaseShape(c);
    if (shapeProblems.length) {
      result.cases.push({ name, line, pass: false, failures: shapeProblems });
      continue;
    }
    const purpose = c.purpose ?? 'TREAT';
    if (!isPurposeOfUse(purpose)) {
      result.cases.push({ name, line, pass: false, failures: [`unknown purpose ${JSON.stringify(purpose)}`] });
      continue;
    }
    let classification: Classification;
    try {
      if (c.resource) classification = classify(c.resource, { now });
      else if (c.message) classification = classify(JSON.parse(await readFile(resolve(dirname(file), c.message), 'utf8')) as FhirResource, { now });
      else classification = describedClassification(c.data ?? {});
    } catch (err) {
      result.cases.push({ name, line, pass: false, failures: [`cannot read the message: ${(err as Error).message}`] });
      continue;
    }
    const destName = c.destination ?? '(none)';
    const decision = decide(policy, {
      destinationName: destName,
      destination: destinations.get(destName),
      purpose,
      classification,
      source: c.source ?? 'lan',
      now,
      ...(c.data?.opaque ? { opaque: true } : {}),
    });
    for (const s of decision.trace) if (s.matched) exercised.add(s.ruleId);
    const outcome = outcomeAfterConsent(decision, c.consent);
    const e = c.expect ?? {};
    if (e.decision && decision.effect !== e.decision) failures.push(`expected decision ${e.decision}, got ${decision.effect} (${decision.reasons.map((r) => r.text).join('; ')})`);
    if (e.outcome && outcome !== e.outcome) failures.push(`expected outcome ${e.outcome} after consent ${c.consent ?? '(not given)'}, got ${outcome}`);
    for (const r of e.rules ?? []) if (!decision.ruleIds.includes(r)) failures.push(`expected rule ${r} among the deciding rules [${decision.ruleIds.join(', ')}]`);
    for (const o of e.obligations ?? []) if (!hasObligation(decision.obligations, o)) failures.push(`expected obligation ${o}; got [${decision.obligations.map(obligationWords).join(', ')}]`);
    for (const o of e.without ?? []) if (hasObligation(decision.obligations, o)) failures.push(`expected no obligation ${o}; got [${decision.obligations.map(obligationWords).join(', ')}]`);
    if (e.deidentified !== undefined && !!decision.deidentifiedBy !== e.deidentified) failures.push(`expected the data ${e.deidentified ? '' : 'not '}to leave de-identified`);
    result.cases.push({ name, line, pass: failures.length === 0, failures, decision, outcome });
  }
  result.uncovered = result.rules.filter((r) => !exercised.has(r));
  return result;
}

const CASE_FIELDS = new Set(['name', 'destination', 'purpose', 'source', 'data', 'resource', 'message', 'consent', 'expect']);
const EXPECT_FIELDS = new Set(['decision', 'outcome', 'rules', 'obligations', 'without', 'deidentified']);
const DATA_FIELDS = new Set(['identifiable', 'categories', 'labels', 'ageYears', 'resourceTypes', 'opaque']);
const OBLIGATION_KINDS = new Set(['require-consent', 'sanitize', 'label', 'seal']);

function checkCaseShape(c: CaseSpec): string[] {
  const out: string[] = [];
  if (!c || typeof c !== 'object') return ['a case must be a mapping'];
  for (const k of Object.keys(c)) if (!CASE_FIELDS.has(k)) out.push(`unknown field "${k}" in the case (allowed: ${[...CASE_FIELDS].join(', ')})`);
  for (const k of Object.keys(c.data ?? {})) if (!DATA_FIELDS.has(k)) out.push(`unknown field "${k}" in data (allowed: ${[...DATA_FIELDS].join(', ')})`);
  const e = c.expect;
  if (!e || typeof e !== 'object' || !Object.keys(e).length) out.push('the case expects nothing: add expect.decision, outcome, rules or obligations');
  else {
    for (const k of Object.keys(e)) if (!EXPECT_FIELDS.has(k)) out.push(`unknown field "${k}" in expect (allowed: ${[...EXPECT_FIELDS].join(', ')})`);
    for (const o of [...(e.obligations ?? []), ...(e.without ?? [])]) {
      if (!OBLIGATION_KINDS.has(String(o).split(':')[0])) out.push(`unknown obligation "${o}" (kinds: ${[...OBLIGATION_KINDS].join(', ')})`);
    }
  }
  if (c.consent !== undefined && !['permit', 'deny', 'none'].includes(c.consent)) out.push(`consent must be permit, deny or none, not ${JSON.stringify(c.consent)}`);
  const sources = [c.data, c.resource, c.message].filter((x) => x !== undefined).length;
  if (sources > 1) out.push('give the message one way only: data, resource or message');
  return out;
}

const obligationWords = (o: Obligation) => {
  switch (o.kind) {
    case 'require-consent':
      return `require-consent(${[...(o.purposes ?? []), ...(o.categories ?? [])].join(',')})`;
    case 'sanitize':
      return `sanitize:${o.profile}`;
    case 'label':
      return `label:${o.labels.map((l) => l.code).join(',')}`;
    case 'seal':
      return `seal:${o.required}`;
  }
};

/** Run every test file under `path`. Coverage is counted per policy over all its test files. */
export async function runPolicyTests(path: string): Promise<TestRunResult> {
  const files = await findTestFiles(path);
  const results: TestFileResult[] = [];
  for (const f of files) results.push(await runFile(f));
  const byPolicy = new Map<string, { rules: Set<string>; uncoveredEverywhere: Set<string> }>();
  for (const r of results) {
    if (!r.policyFile) continue;
    const entry = byPolicy.get(r.policyFile) ?? { rules: new Set(r.rules), uncoveredEverywhere: new Set(r.rules) };
    const covered = new Set(r.rules.filter((x) => !r.uncovered.includes(x)));
    for (const c of covered) entry.uncoveredEverywhere.delete(c);
    byPolicy.set(r.policyFile, entry);
  }
  let total = 0;
  let uncovered = 0;
  for (const e of byPolicy.values()) {
    total += e.rules.size;
    uncovered += e.uncoveredEverywhere.size;
  }
  for (const r of results) if (r.policyFile) r.uncovered = [...(byPolicy.get(r.policyFile)?.uncoveredEverywhere ?? [])];
  const passed = results.reduce((n, r) => n + r.cases.filter((c) => c.pass).length, 0);
  const failed = results.reduce((n, r) => n + r.cases.filter((c) => !c.pass).length + (r.error ? 1 : 0), 0);
  return { files: results, passed, failed, coverage: total ? Math.round(((total - uncovered) / total) * 1000) / 10 : 0 };
}
