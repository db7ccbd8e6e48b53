/**
 * Rule paths compiled once. Microsoft's engine's parsing: a leading type name
 * (`Patient.`) says which resources a rule is for (`Resource`/`DomainResource`/none:
 * all); the rest is evaluated on the resource. Three shapes answer from our index
 * without FHIRPath evaluation, with the same result (a test checks it):
 * `nodesByType('T')[.member]`, `nodesByName('n')[.member]`, plain member chains
 * (`Patient.address.line`). Everything else goes through fhirpath.js.
 */
import { compilePath, fpCompile, PROBE_CTX, resolveResNode, ResourceNodeCtor, type FpResNode } from './bridge.js';
import { SanitizeError } from './errors.js';
import { byName, getValue, locationOf, R4, type Node, type ResourceNode } from './model.js';
import { ProfileError, type RuleSpec } from './profile.js';

const TYPE_RULE = /^nodesByType\(['"]([A-Za-z0-9]+)['"]\)(?:\.([A-Za-z0-9]+))?$/;
const NAME_RULE = /^nodesByName\(['"]([A-Za-z0-9]+)['"]\)(?:\.([A-Za-z0-9]+))?$/;
const PATH_RE = /^([A-Z][a-zA-Z]*)?(\.)?(.*?)$/s;
const MEMBER_CHAIN = /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/;

export type Matcher = (res: ResourceNode) => Node[];

export interface CompiledRule {
  index: number;
  spec: RuleSpec;
  /** '' = every resource. */
  resourceType: string;
  match: Matcher;
}

export function compileRule(spec: RuleSpec, index: number, where: string): CompiledRule {
  const at = `${where}: fhirPathRules[${index}] (${spec.path})`;
  compilePath(spec.path, at); // grammar check on the whole path, even when the index answers it
  const m = PATH_RE.exec(spec.path)!;
  const resourceType = m[1] ?? '';
  let expression = m[3] ?? '';
  if (!expression) expression = spec.path;
  const isResourceTypeRule = spec.path === resourceType;
  const general = resourceType === '' || resourceType === 'Resource' || resourceType === 'DomainResource';
  let match: Matcher;
  const typeRule = TYPE_RULE.exec(spec.path);
  const nameRule = NAME_RULE.exec(spec.path);
  if (typeRule || nameRule) {
    const [, key, member] = (typeRule ?? nameRule)!;
    const byType = !!typeRule;
    match = (res) => {
      const list = (byType ? res.byType : byName(res)).get(key);
      if (!list) return [];
      if (!member) return list;
      const out: Node[] = [];
      for (const n of list) for (const c of n.children) if (c.name === member) out.push(c);
      return out;
    };
  } else if (isResourceTypeRule) {
    match = (res) => [res];
  } else if (MEMBER_CHAIN.test(expression)) {
    const steps = expression.split('.');
    match = (res) => {
      let cur: Node[] = [res];
      for (const s of steps) {
        const next: Node[] = [];
        for (const n of cur) for (const c of n.children) if (c.name === s) next.push(c);
        cur = next;
        if (cur.length === 0) break;
      }
      return cur;
    };
  } else {
    const compiled = compilePath(expression, at);
    match = (res) => {
      let out: unknown[];
      try {
        out = compiled(res.obj);
      } catch {
        throw new SanitizeError(`rule ${index} (${spec.method}): FHIRPath evaluation failed on ${res.resourceType}`, index, 'processing');
      }
      const nodes: Node[] = [];
      for (const r of out) {
        if (r === null || typeof r !== 'object' || !('parentResNode' in (r as object))) continue;
        const n = resolveResNode(r as FpResNode);
        if (n) nodes.push(n);
      }
      return nodes;
    };
  }
  return { index, spec, resourceType: general ? '' : resourceType, match };
}

// ---- generalize --------------------------------------------------------------------------------

interface GeneralizeCase {
  when: string;
  then: string;
}

export function makeGeneralizer(spec: RuleSpec, index: number, where: string) {
  const cases: GeneralizeCase[] = Object.entries(spec.cases ?? {}).map(([when, then]) => ({ when, then }));
  for (const c of cases) {
    for (const e of [c.when, c.then]) {
      try {
        fpCompile(e, R4);
      } catch {
        throw new ProfileError(`${where}: fhirPathRules[${index}].cases: FHIRPath expression does not parse`);
      }
    }
  }
  const compiled = cases.map((c) => ({ when: fpCompile(c.when, R4), then: fpCompile(c.then, R4) }));
  return (n: Node): { matched: boolean; value: unknown } => {
    // The node as fhirpath's own typed node (dates compare as dates, numbers as numbers).
    // (fhirpath's {base, expression} form cannot take numbers: it builds nodes before its decimal support.)
    const rn = new ResourceNodeCtor(PROBE_CTX, getValue(n), null, n.fpPath, null, n.fpType, n.name, null);
    for (const c of compiled) {
      let r: unknown[];
      try {
        r = c.when(rn);
        if (r.length === 1 && r[0] === true) {
          const out = c.then(rn);
          return { matched: true, value: out.length ? out[0] : null };
        }
      } catch {
        throw new SanitizeError(`rule ${index} (generalize): a case could not be evaluated on ${locationOf(n)}`, index, 'processing');
      }
    }
    return { matched: false, value: null };
  };
}
