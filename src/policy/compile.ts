/**
 * From policy text to a compiled policy: parse, schema check, semantic lint, then rules
 * as closures. Runs once per load; decide() never parses anything.
 */
import { ConditionError, compileConditions, covers, neverMatches, type Condition } from './conditions.js';
import { isLoopbackHost, normalizeHost } from './destinations.js';
import { canonicalBytes, parsePolicyText, sha256Hex, type ParsedPolicy } from './parse.js';
import {
  EMBEDDED_SIMULATOR_KEY,
  PolicyError,
  formatFinding,
  type CompiledPolicy,
  type CompiledRule,
  type LintFinding,
  type PolicyFile,
  type PolicyFileObligation,
} from './types.js';

interface Built {
  rules: Array<CompiledRule & { conditions: Condition[] }>;
  findings: LintFinding[];
}

/** Conditions whose answer changes when the data leaves de-identified. */
const VIEW_DEPENDENT = new Set(['data.identifiable', 'data.labels']);

const obligationKey = (o: PolicyFileObligation) => JSON.stringify(o);
const sameObligations = (a: PolicyFileObligation[], b: PolicyFileObligation[]) =>
  a.length === b.length && a.map(obligationKey).sort().join() === b.map(obligationKey).sort().join();

function build(file: PolicyFile, parsed: ParsedPolicy, fileName: string): Built {
  const findings: LintFinding[] = [];
  const profiles = file.sanitizeProfiles ?? {};
  const at = (path: Array<string | number>, code: string, message: string, severity: 'error' | 'warning' = 'error', key = false) =>
    findings.push({ file: fileName, ...parsed.position(path, key), severity, code, message });
  const seen = new Map<string, number>();
  const rules: Built['rules'] = [];
  file.rules.forEach((r, index) => {
    const where = ['rules', index];
    if (seen.has(r.id)) at([...where, 'id'], 'duplicate-id', `rule id "${r.id}" is used twice (first by rule ${seen.get(r.id)! + 1})`);
    else seen.set(r.id, index);
    const obligations = r.then.obligations ?? [];
    if (!r.then.effect && obligations.length === 0) {
      at([...where, 'then'], 'decides-nothing', `rule "${r.id}" decides nothing: give it an effect (permit or deny) or obligations`);
    }
    if (r.then.effect === 'deny' && !r.then.reason) {
      at([...where, 'then'], 'missing-field', `rule "${r.id}" denies without a "reason": say in plain words why`);
    }
    if (r.then.effect === 'deny' && obligations.length) {
      at([...where, 'then', 'obligations'], 'bad-value', `rule "${r.id}" denies, so its obligations could never apply: remove them`);
    }
    if (r.exception && r.then.effect !== 'permit') {
      at([...where, 'exception'], 'bad-value', `rule "${r.id}" cites a legal exception but does not permit`);
    }
    let deidentifies = false;
    let sanitizes = false;
    obligations.forEach((o, i) => {
      if ('sanitize' in o) {
        sanitizes = true;
        const p = profiles[o.sanitize];
        if (!p) {
          at([...where, 'then', 'obligations', i, 'sanitize'], 'unknown-profile', `unknown sanitize profile "${o.sanitize}": declare it under sanitizeProfiles (known: ${Object.keys(profiles).join(', ') || 'none'})`);
        } else if (p.deidentifies) deidentifies = true;
      }
      if ('require-consent' in o && r.exception) {
        at([...where, 'then', 'obligations', i], 'bad-value', `rule "${r.id}" cites a legal exception and also requires consent: choose one`);
      }
    });
    let conditions: Condition[];
    try {
      conditions = compileConditions(r.when ?? {}, r.then.effect !== 'permit');
    } catch (err) {
      if (!(err instanceof ConditionError)) throw err;
      at([...where, 'when', 'time', 'timezone'], 'bad-value', `rule "${r.id}": ${err.message}`);
      conditions = [];
    }
    const never = neverMatches(conditions);
    if (never) at([...where, 'when'], 'never-matches', `rule "${r.id}" can never match: ${never}`);
    rules.push({
      id: r.id,
      index,
      description: r.description,
      source: r.source,
      status: r.status,
      ...(r.exception ? { exception: r.exception } : {}),
      phase: sanitizes ? 'form' : 'main',
      conditions,
      texts: conditions.map((c) => c.text),
      ...(r.then.effect ? { effect: r.then.effect } : {}),
      ...(r.then.reason ? { reason: r.then.reason } : {}),
      obligations,
      deidentifies,
      raw: r,
    });
  });
  checkDestinations(file, at);
  // Shadowed: an earlier rule matches whenever this one does, and either
  // denies (deny overrides, so this rule never changes a decision) or does exactly the same.
  for (const b of rules) {
    if (neverMatches(b.conditions)) continue;
    for (const a of rules) {
      if (a.index >= b.index) continue;
      // Across phases a main rule sees the data as it leaves; only conditions that
      // de-identification does not change (destination, purpose, source, categories,
      // resource types, age) compare soundly.
      if (a.phase !== b.phase && !(a.phase === 'main' && a.conditions.every((c) => !VIEW_DEPENDENT.has(c.field)))) continue;
      if (!covers(a.conditions, b.conditions)) continue;
      const same = a.effect === b.effect && sameObligations(a.obligations, b.obligations);
      if (a.effect === 'deny' || same) {
        at(['rules', b.index, 'id'], 'shadowed', `rule "${b.id}" is shadowed by earlier rule "${a.id}": whenever "${b.id}" matches, "${a.id}" matches too and ${a.effect === 'deny' ? 'denies (deny overrides)' : 'does the same'}, so "${b.id}" never changes a decision`);
        break;
      }
    }
  }
  return { rules, findings };
}

/** The pack's destinations: one declaration per name, and the demo key marker only on loopback. */
function checkDestinations(file: PolicyFile, at: (path: Array<string | number>, code: string, message: string) => void) {
  const names = new Map<string, number>();
  (file.destinations ?? []).forEach((d, i) => {
    if (names.has(d.name)) at(['destinations', i, 'name'], 'duplicate-id', `destination "${d.name}" is declared twice (first as destination ${names.get(d.name)! + 1})`);
    else names.set(d.name, i);
    if (d.recipientKey === EMBEDDED_SIMULATOR_KEY) {
      const off = d.allowedHosts.filter((h) => !isLoopbackHost(h));
      if (off.length) {
        at(['destinations', i, 'recipientKey'], 'bad-value', `destination "${d.name}": "${EMBEDDED_SIMULATOR_KEY}" is valid only for loopback hosts, but allowedHosts lists ${off.join(', ')}: name the recipient's key by its sha256 fingerprint`);
      }
    }
  });
}

/** Every problem in a policy text (YAML, schema, semantics), in file order. */
export function lintPolicyText(text: string, fileName: string): LintFinding[] {
  const parsed = parsePolicyText(text, fileName);
  if (!parsed.value) return parsed.findings;
  return sortFindings(build(parsed.value, parsed, fileName).findings);
}

const sortFindings = (f: LintFinding[]) => f.sort((a, b) => a.line - b.line || a.column - b.column);

/** Compile a policy; throws PolicyError (file:line:column messages) on any error. */
export function compilePolicy(text: string, fileName: string): CompiledPolicy {
  const parsed = parsePolicyText(text, fileName);
  const fail = (findings: LintFinding[]): never => {
    const errors = sortFindings(findings.filter((f) => f.severity === 'error'));
    throw new PolicyError(`policy ${fileName} has ${errors.length} error${errors.length === 1 ? '' : 's'}:\n${errors.map(formatFinding).join('\n')}`, errors);
  };
  if (!parsed.value) return fail(parsed.findings);
  const { rules, findings } = build(parsed.value, parsed, fileName);
  if (findings.some((f) => f.severity === 'error')) return fail(findings);
  const sha256 = sha256Hex(canonicalBytes(text));
  const file = parsed.value;
  return {
    id: file.id,
    version: String(file.version),
    title: file.title,
    ...(file.description ? { description: file.description } : {}),
    sha256,
    ref: { id: file.id, version: String(file.version), sha256 },
    fileName,
    rules,
    formRules: rules.filter((r) => r.phase === 'form'),
    mainRules: rules.filter((r) => r.phase === 'main'),
    sanitizeProfiles: file.sanitizeProfiles ?? {},
    destinations: (file.destinations ?? []).map((d) => ({ ...d, allowedHosts: d.allowedHosts.map(normalizeHost) })),
    warnings: findings.filter((f) => f.severity === 'warning'),
  };
}
