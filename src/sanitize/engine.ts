/**
 * compileProfile: a profile (Microsoft anonymizer format + darwaza extensions)
 * compiled once into `apply(resource)`.
 *
 * Semantics follow Microsoft's engine (checked by its 26 functional cases):
 * - every resource (the root, then contained resources and Bundle entries, depth
 *   first) gets the rules whose path starts with its type, `Resource`,
 *   `DomainResource`, or no type; rules run in file order;
 * - a rule's method applies to each matched element and all its descendants
 *   (never into an embedded resource); an element handled by an earlier rule is
 *   never touched again (so `keep` rules first protect what follows);
 * - elements left without value and children are removed; resources stay;
 * - each non-contained resource gets meta.security labels for what was done
 *   to it and to the resources inside it.
 */
import { createHash } from 'node:crypto';
import fhirpath from 'fhirpath';
import type { FhirResource } from '../model/index.js';
import {
  abstractPostalCode, dateShiftOffset, encryptAesBase64, hmacHex, isValidAesKey, keyBytes, redactDate, shiftDate, transformReferenceId,
  type DateKind, type KeyMaterial,
} from './algorithms.js';
import { compileFreeText, PATTERN_NAMES, type FreeTextEngine } from './freetext.js';
import { buildTree, byName, getValue, InvalidInputError, locationOf, QUANTITY_TYPES, R4, setValue, type Node, type ResourceNode } from './model.js';
import { parseProfile, ProfileError, type Method, type ProfileSpec, type RuleSpec } from './profile.js';
import { makeProvenance } from './provenance.js';

export { ProfileError } from './profile.js';
export { InvalidInputError } from './model.js';

export interface SanitizeKeys {
  dateShiftKey?: KeyMaterial;
  cryptoHashKey?: KeyMaterial;
  encryptKey?: KeyMaterial;
}

export interface CompileOptions {
  /** Profile name (file base name), used in errors and the Provenance. */
  name: string;
  /** Keys from the key store (one set per destination). They override the profile's. */
  keys?: SanitizeKeys;
  /** Accept literal keys written in the profile file (tests, demos). Default false. */
  allowLiteralKeys?: boolean;
  /** Clock for the age-over-89 rule and Provenance.recorded. */
  now?: () => Date;
  /** Random source in [0,1) for perturb. */
  random?: () => number;
}

export type Operation = 'redacted' | 'abstracted' | 'hashed' | 'encrypted' | 'perturbed' | 'substituted' | 'generalized' | 'scrubbed' | 'emptied';

/** One change, without values: where and how. */
export interface Change {
  path: string;
  method: Method | 'freeText' | 'processingErrors';
  operation: Operation;
}

export interface SanitizeResult {
  resource: FhirResource;
  changes: Change[];
  /** The Provenance (when the profile asks for one); for a Bundle it is also added as an entry. */
  provenance?: FhirResource;
  /** True when a processing error emptied the resource (processingErrors: skip). */
  skipped: boolean;
}

export interface ApplyOptions {
  /** Identities known from elsewhere (e.g. the patient's names and CNIC), scrubbed from free text too. */
  identities?: string[];
}

export interface CompiledProfile {
  name: string;
  /** SHA-256 (hex) of the profile's canonical JSON: what the Provenance and audit cite. */
  sha256: string;
  spec: ProfileSpec;
  /** Keys this profile's methods need (cryptoHash → cryptoHashKey, ...). */
  needsKeys: Array<keyof SanitizeKeys>;
  /** De-identifies `resource` (never mutated). Throws SanitizeError (no values in it). */
  apply(resource: FhirResource, opts?: ApplyOptions): SanitizeResult;
  /** The same compiled profile bound to another destination's keys (cheap; rules stay compiled). */
  withKeys(keys: SanitizeKeys): CompiledProfile;
}

/** A processing error (the profile could not be applied to this input). No values in the message. */
export class SanitizeError extends Error {
  override name = 'SanitizeError';
  constructor(
    message: string,
    readonly ruleIndex: number | null,
    /** 'processing' obeys processingErrors; 'rule-not-applicable' is a profile bug and always raises. */
    readonly kind: 'processing' | 'rule-not-applicable',
  ) {
    super(message);
  }
}

// Operation bit flags, in the order labels are added (as Microsoft's engine does).
const F = { redact: 1, abstract: 2, hash: 4, encrypt: 8, perturb: 16, substitute: 32, generalize: 64 } as const;
const OBS = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
const LABELS: Array<[number, { system?: string; code: string; display: string }]> = [
  [F.redact, { system: OBS, code: 'REDACTED', display: 'redacted' }],
  [F.abstract, { system: OBS, code: 'ABSTRED', display: 'abstracted' }],
  [F.hash, { system: OBS, code: 'CRYTOHASH', display: 'cryptographic hash function' }],
  [F.encrypt, { system: OBS, code: 'MASKED', display: 'masked' }],
  [F.perturb, { code: 'PERTURBED', display: 'exact value is replaced with another exact value' }],
  [F.substitute, { code: 'SUBSTITUTED', display: 'exact value is replaced with a predefined value' }],
  [F.generalize, { code: 'GENERALIZED', display: 'exact value is replaced with a general value' }],
];
const OP_NAME: Record<number, Operation> = {
  [F.redact]: 'redacted', [F.abstract]: 'abstracted', [F.hash]: 'hashed', [F.encrypt]: 'encrypted',
  [F.perturb]: 'perturbed', [F.substitute]: 'substituted', [F.generalize]: 'generalized',
};

const TYPE_RULE = /^nodesByType\(['"]([A-Za-z0-9]+)['"]\)(?:\.([A-Za-z0-9]+))?$/;
const NAME_RULE = /^nodesByName\(['"]([A-Za-z0-9]+)['"]\)(?:\.([A-Za-z0-9]+))?$/;
const PATH_RE = /^([A-Z][a-zA-Z]*)?(\.)?(.*?)$/s;
const MEMBER_CHAIN = /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/;
const URL_LIKE = new Set(['Bundle.entry.fullUrl', 'Bundle.entry.request.url', 'Bundle.entry.response.location']);
const NUMERIC = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);
const INTEGER = new Set(['integer', 'positiveInt', 'unsignedInt']);

type Matcher = (res: ResourceNode) => Node[];

interface CompiledRule {
  index: number;
  spec: RuleSpec;
  /** '' = every resource. */
  resourceType: string;
  match: Matcher;
}

// ---- FHIRPath bridge -------------------------------------------------------------------------

interface FpResNode {
  data: unknown;
  parentResNode: FpResNode | null;
  propName: string | null;
  index: number | null;
}
type ResNodeCtor = new (...args: unknown[]) => FpResNode;
const fpEvaluate = fhirpath.evaluate as unknown as (...a: unknown[]) => unknown[];
const fpCompile = fhirpath.compile as unknown as (...a: unknown[]) => (data: unknown, env?: unknown) => unknown[];
const PROBE = fpEvaluate({ resourceType: 'Basic' }, 'Basic', null, R4, { resolveInternalTypes: false })[0] as FpResNode;
const ResourceNodeCtor = (PROBE as unknown as { constructor: ResNodeCtor }).constructor;
const PROBE_CTX = (PROBE as unknown as { ctx: unknown }).ctx;

/** The apply in progress (apply is synchronous, so one at a time). */
let active: { objMap: Map<unknown, Node> | null; root: ResourceNode } | null = null;

function objMap(): Map<unknown, Node> {
  if (!active) throw new Error('internal: no apply in progress');
  if (!active.objMap) {
    const m = new Map<unknown, Node>();
    const add = (res: ResourceNode) => {
      m.set(res.obj, res);
      for (const list of res.byType.values()) for (const n of list) if (n.obj) m.set(n.obj, n);
      for (const s of res.subResources) add(s);
    };
    add(active.root);
    active.objMap = m;
  }
  return active.objMap;
}

function resolveResNode(rn: FpResNode): Node | undefined {
  const d = rn.data;
  if (d !== null && typeof d === 'object') {
    const n = objMap().get(d);
    if (n) return n;
  }
  if (!rn.parentResNode) return undefined;
  const p = resolveResNode(rn.parentResNode);
  if (!p) return undefined;
  const idx = rn.index ?? -1;
  for (const c of p.children) if (c.primitive && c.name === rn.propName && c.index === idx) return c;
  return undefined;
}

function toResNode(ctx: unknown, n: Node, memo: Map<Node, FpResNode>): FpResNode {
  const hit = memo.get(n);
  if (hit) return hit;
  let r: FpResNode;
  if (!n.parent) r = new ResourceNodeCtor(ctx, n.obj, null, null, null, null);
  else {
    const parent = toResNode(ctx, n.parent, memo);
    const data = n.primitive ? getValue(n) : n.obj;
    r = new ResourceNodeCtor(ctx, data, parent, n.fpPath, n.primitive ? n.ext : null, n.fpType, n.name, n.index < 0 ? null : n.index);
  }
  memo.set(n, r);
  return r;
}

function selfAndDescendants(n: Node, out: Node[], pred: (x: Node) => boolean) {
  if (pred(n)) out.push(n);
  for (const c of n.children) {
    if (c.res === c) continue; // embedded resource
    selfAndDescendants(c, out, pred);
  }
}

const stringArg = (a: unknown): string => {
  const v = Array.isArray(a) ? a[0] : a;
  return String((v as { data?: unknown })?.data ?? v);
};

function nodesBy(kind: 'type' | 'name') {
  return {
    fn(this: unknown, inputs: FpResNode[], arg: unknown) {
      const want = stringArg(arg);
      const memo = new Map<Node, FpResNode>();
      const out: FpResNode[] = [];
      for (const i of inputs) {
        const n = resolveResNode(i);
        if (!n) continue;
        const found: Node[] = [];
        selfAndDescendants(n, found, kind === 'type' ? (x) => x.type === want : (x) => x.name === want);
        for (const f of found) out.push(toResNode(this, f, memo));
      }
      return out;
    },
    arity: { 1: ['String'] },
    internalStructures: true,
  };
}
const USER_FUNCTIONS = { nodesByType: nodesBy('type'), nodesByName: nodesBy('name') };

function compilePath(expression: string, where: string) {
  try {
    return fpCompile(expression, R4, { resolveInternalTypes: false, userInvocationTable: USER_FUNCTIONS });
  } catch {
    throw new ProfileError(`${where}: FHIRPath expression does not parse`);
  }
}

function compileRule(spec: RuleSpec, index: number, where: string): CompiledRule {
  const at = `${where}: fhirPathRules[${index}] (${spec.path})`;
  const fp = compilePath(spec.path, at); // grammar check on the whole path
  void fp;
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

function makeGeneralizer(spec: RuleSpec, index: number, where: string) {
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

// ---- compile -----------------------------------------------------------------------------------

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export const DEFAULT_NOW = () => new Date();
/** Entries kept in each profile binding's id → HMAC cache before it is cleared. */
export const HASH_CACHE_MAX = 50_000;

export function compileProfile(profile: object, opts: CompileOptions): CompiledProfile {
  const where = `profile ${opts.name}`;
  const spec = parseProfile(profile, where, PATTERN_NAMES);
  const sha256 = createHash('sha256').update(canonicalJson(profile)).digest('hex');
  const now = opts.now ?? DEFAULT_NOW;
  const random = opts.random ?? Math.random;
  const p = spec.parameters;

  // Keys: the key store's, else (tests only) the profile's literal ones.
  const literal = { dateShiftKey: p.dateShiftKey, cryptoHashKey: p.cryptoHashKey, encryptKey: p.encryptKey };
  if (!opts.allowLiteralKeys) {
    for (const [k, v] of Object.entries(literal)) {
      if (v) throw new ProfileError(`${where}: parameters.${k} holds a literal key; keys come from the key store (one set per destination)`);
    }
  }
  const uses = new Set(spec.fhirPathRules.map((r) => r.method));
  const needsKeys: Array<keyof SanitizeKeys> = [];
  if (uses.has('dateShift') && p.dateShiftFixedOffsetInDays === undefined) needsKeys.push('dateShiftKey');
  if (uses.has('cryptoHash')) needsKeys.push('cryptoHashKey');
  if (uses.has('encrypt')) needsKeys.push('encryptKey');

  const rules = spec.fhirPathRules.map((r, i) => compileRule(r, i, where));
  const generalizers = new Map<number, ReturnType<typeof makeGeneralizer>>();
  spec.fhirPathRules.forEach((r, i) => {
    if (r.method === 'generalize') generalizers.set(i, makeGeneralizer(r, i, where));
  });
  const rulesByType = new Map<string, CompiledRule[]>();
  const rulesFor = (type: string) => {
    let l = rulesByType.get(type);
    if (!l) rulesByType.set(type, (l = rules.filter((r) => r.resourceType === '' || r.resourceType === type)));
    return l;
  };
  const freeText: FreeTextEngine | null = spec.freeText ? compileFreeText(spec.freeText) : null;

  /** The compiled rules bound to one destination's keys. */
  function bind(given: SanitizeKeys | undefined, strict: boolean): CompiledProfile {
    const keys: SanitizeKeys = {
      dateShiftKey: given?.dateShiftKey ?? literal.dateShiftKey,
      cryptoHashKey: given?.cryptoHashKey ?? literal.cryptoHashKey,
      encryptKey: given?.encryptKey ?? literal.encryptKey,
    };
    const missing = needsKeys.filter((k) => !keys[k] || keys[k]!.length === 0);
    if (strict && missing.length) throw new ProfileError(`${where}: needs ${missing.join(', ')} (from the key store) and none was given`);
    let aesKey: Buffer | null = null;
    if (keys.encryptKey) {
      aesKey = keyBytes(keys.encryptKey);
      if (!isValidAesKey(aesKey)) throw new ProfileError(`${where}: encryptKey must be 128, 192 or 256 bits (got ${aesKey.length * 8})`);
    }
    const hashKey = keys.cryptoHashKey;
    // Ids and references repeat (every entry points at the patient): remember recent hashes.
    const hashCache = new Map<string, string>();
    const hash = (s: string) => {
      let h = hashCache.get(s);
      if (h === undefined) {
        h = hmacHex(s, hashKey!);
        if (hashCache.size >= HASH_CACHE_MAX) hashCache.clear();
        hashCache.set(s, h);
      }
      return h;
    };
    const offsetCache = new Map<string, number>();
    const offsetFor = (prefix: string) => {
      if (p.dateShiftFixedOffsetInDays !== undefined) return p.dateShiftFixedOffsetInDays;
      let o = offsetCache.get(prefix);
      if (o === undefined) {
        o = dateShiftOffset(prefix, keys.dateShiftKey!);
        if (offsetCache.size > 10_000) offsetCache.clear();
        offsetCache.set(prefix, o);
      }
      return o;
    };

  function apply(resource: FhirResource, applyOpts?: ApplyOptions): SanitizeResult {
    if (missing.length) throw new SanitizeError(`profile ${opts.name} needs ${missing.join(', ')} for this destination (none given)`, null, 'rule-not-applicable');
    const root = buildTree(resource);
    const changeLog: Array<[Node, Method | 'freeText', number]> = [];
    const record = (n: Node, method: Method | 'freeText', flag: number) => {
      changeLog.push([n, method, flag]);
      return flag;
    };
    const at = now();
    const prev = active;
    active = { objMap: null, root };
    try {
      const identities = freeText?.spec.scrubKnownIdentities ? freeText.collectIdentities(root, applyOpts?.identities ?? []) : [];
      processResource(root);
      if (freeText) freeText.scrub(root, identities, (n) => record(n, 'freeText', F.redact));
      addLabels(root);
      prune(root.obj!, true);
      const out = root.obj as FhirResource;
      let provenance: FhirResource | undefined;
      if (spec.provenance) provenance = makeProvenance(out, { name: opts.name, sha256, at, hash: hashKey ? hash : null });
      return { resource: out, changes: lazyChanges(changeLog), provenance, skipped: false };
    } catch (err) {
      if (err instanceof SanitizeError && err.kind === 'processing' && spec.processingErrors === 'skip') {
        const empty: FhirResource = { resourceType: root.resourceType, meta: { security: [{ ...LABELS[0][1] }] } };
        return { resource: empty, changes: [{ path: root.resourceType, method: 'processingErrors', operation: 'emptied' }], skipped: true };
      }
      throw err;
    } finally {
      active = prev;
    }

    function processResource(res: ResourceNode): number {
      let flags = 0;
      for (const rule of rulesFor(res.resourceType)) {
        const matched = rule.match(res);
        for (const n of matched) flags |= processRecursive(n, rule);
      }
      for (const sub of res.subResources) flags |= processResource(sub);
      res.flags |= flags;
      return flags;
    }

    function processRecursive(n: Node, rule: CompiledRule): number {
      if (n.visited) return 0;
      let f = processNode(n, rule);
      n.visited = true;
      for (const c of n.children) {
        if (c.res === c) continue; // an embedded resource is processed as a resource
        f |= processRecursive(c, rule);
      }
      return f;
    }

    function processNode(n: Node, rule: CompiledRule): number {
      const method = rule.spec.method;
      switch (method) {
        case 'keep':
          return 0;
        case 'redact':
          return redact(n, method);
        case 'dateShift': {
          if (!n.primitive) return 0;
          const v = getValue(n);
          if (v === null || v === undefined || v === '') return 0;
          const kind = dateKind(n);
          if (!kind) return 0;
          const rootId = root.obj!.id;
          const r = shiftDate(String(v), kind, offsetFor(typeof rootId === 'string' ? rootId : rootId == null ? '' : String(rootId)), p.enablePartialDatesForRedact, at);
          setValue(n, r.value);
          return record(n, method, r.kind === 'shifted' ? F.perturb : F.redact);
        }
        case 'cryptoHash': {
          if (!n.primitive) return 0;
          const v = getValue(n);
          if (v === null || v === undefined || v === '') return 0;
          const s = String(v);
          let out: string;
          if (n.name === 'reference' && n.parent?.type === 'Reference') out = transformReferenceId(s, hash);
          else if (URL_LIKE.has(n.elementPath)) out = transformReferenceId(s, hash, true);
          else out = hash(s);
          setValue(n, out);
          return record(n, method, F.hash);
        }
        case 'encrypt': {
          if (!n.primitive) return 0;
          const v = getValue(n);
          if (v === null || v === undefined || v === '') return 0;
          setValue(n, encryptAesBase64(String(v), aesKey!));
          return record(n, method, F.encrypt);
        }
        case 'substitute':
          return substitute(n, rule);
        case 'perturb':
          return perturb(n, rule);
        case 'generalize': {
          if (!n.primitive) {
            throw new SanitizeError(
              `rule ${rule.index} (generalize) matched ${locationOf(n)} of type ${n.type}; generalize applies only to primitive elements`,
              rule.index,
              'rule-not-applicable',
            );
          }
          const v = getValue(n);
          if (v === null || v === undefined) return 0;
          const g = generalizers.get(rule.index)!(n);
          if (g.matched) setValue(n, normalizeScalar(g.value));
          else if ((rule.spec.otherValues ?? 'redact') === 'redact') setValue(n, null);
          return record(n, method, F.generalize);
        }
      }
    }

    function redact(n: Node, method: Method): number {
      if (!n.primitive) return 0;
      const v = getValue(n);
      if (v === null || v === undefined || v === '') return 0;
      const kind = dateKind(n);
      if (kind) {
        setValue(n, redactDate(String(v), kind, p.enablePartialDatesForRedact, at));
        return record(n, method, F.redact);
      }
      if (n.type === 'decimal' && n.parent?.type === 'Age') {
        const age = Number(v);
        if (spec.ages && age >= spec.ages.topCode) {
          setValue(n, spec.ages.topCode);
          n.parent.obj!.comparator = '>=';
          return record(n, method, F.abstract);
        }
        if (!p.enablePartialAgesForRedact || age > 89) setValue(n, null);
        return record(n, method, F.redact);
      }
      if (n.name.toLowerCase() === 'postalcode') {
        if (p.enablePartialZipCodesForRedact) {
          setValue(n, abstractPostalCode(String(v), p.restrictedZipCodeTabulationAreas));
          return record(n, method, F.abstract);
        }
        setValue(n, null);
        return record(n, method, F.redact);
      }
      setValue(n, null);
      return record(n, method, F.redact);
    }

    function perturb(n: Node, rule: CompiledRule): number {
      let valueNode: Node | undefined;
      if (NUMERIC.has(n.type)) valueNode = n;
      else if (QUANTITY_TYPES.has(n.type)) valueNode = n.children.find((c) => c.name === 'value');
      if (!valueNode || valueNode.visited) return 0;
      const v = getValue(valueNode);
      if (v === null || v === undefined) return 0;
      const origin = Number(v);
      if (!Number.isFinite(origin)) throw new SanitizeError(`rule ${rule.index} (perturb): ${locationOf(valueNode)} is not a number`, rule.index, 'processing');
      const roundTo = INTEGER.has(valueNode.type) ? 0 : rule.spec.roundTo ?? 2;
      const span = rule.spec.rangeType === 'proportional' ? origin * (rule.spec.span ?? 0) : rule.spec.span ?? 0;
      const noise = (random() - 0.5) * span;
      let out = Number((origin + noise).toFixed(roundTo));
      if (valueNode.type === 'positiveInt' && out <= 0) out = 1;
      if (valueNode.type === 'unsignedInt' && out < 0) out = 0;
      setValue(valueNode, out);
      markVisited(n);
      return record(n, 'perturb', F.perturb);
    }

    function substitute(n: Node, rule: CompiledRule): number {
      let repl = rule.spec.replaceWith;
      if (!n.primitive && typeof repl === 'string') {
        try {
          repl = JSON.parse(repl);
        } catch {
          throw new SanitizeError(`rule ${rule.index} (substitute): replaceWith is not JSON for complex ${locationOf(n)}`, rule.index, 'processing');
        }
      }
      if (!n.primitive && (repl === null || repl === undefined)) repl = {};
      const keep = new Set<Node>();
      markKeep(n, keep);
      substituteNode(n, repl, keep, rule.index);
      markVisited(n);
      return record(n, 'substitute', F.substitute);
    }
  }

  return { name: opts.name, sha256, spec, needsKeys, apply, withKeys: (k: SanitizeKeys) => bind(k, true) };
  }

  return bind(opts.keys, opts.keys !== undefined);
}

function dateKind(n: Node): DateKind | null {
  return n.type === 'date' || n.type === 'dateTime' || n.type === 'instant' ? n.type : null;
}

function markVisited(n: Node) {
  for (const c of n.children) {
    if (c.res === c) continue;
    c.visited = true;
    markVisited(c);
  }
}

/** Nodes to keep during substitution: processed before, or holding something processed before. */
function markKeep(n: Node, keep: Set<Node>): boolean {
  let k = false;
  for (const c of n.children) if (c.res !== c && markKeep(c, keep)) k = true;
  if (k || n.visited) {
    keep.add(n);
    return true;
  }
  return false;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function coercePrimitive(n: Node, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') return JSON.stringify(v);
  const s = String(v);
  if (n.type === 'boolean') return s === 'true' ? true : s === 'false' ? false : s;
  if (NUMERIC.has(n.type)) {
    const num = Number(s);
    return s.trim() !== '' && Number.isFinite(num) ? num : s;
  }
  return s;
}

function removeNode(c: Node) {
  if (c.res === c) return;
  if (c.primitive) {
    setValue(c, null);
    if (c.ext) for (const k of Object.keys(c.ext)) delete c.ext[k];
  } else if (c.obj) {
    for (const k of Object.keys(c.obj)) delete c.obj[k];
  }
}

/** Replaces n's content with `repl` (undefined: a dummy that only keeps what must be kept). */
function substituteNode(n: Node, repl: unknown, keep: Set<Node>, ruleIndex: number) {
  if (n.visited) return;
  const r = n.primitive ? {} : repl === undefined ? {} : repl;
  if (!n.primitive && !isObj(r)) {
    throw new SanitizeError(`rule ${ruleIndex} (substitute): replaceWith does not fit ${locationOf(n)}`, ruleIndex, 'processing');
  }
  const rObj = r as Record<string, unknown>;
  const replKeys = Object.keys(rObj);
  for (const k of replKeys) {
    const targets = Array.isArray(rObj[k]) ? (rObj[k] as unknown[]) : [rObj[k]];
    const kids = n.children.filter((c) => c.key === k && c.res !== c);
    let i = 0;
    for (const c of kids) {
      if (c.visited) {
        i++;
        continue;
      }
      if (i < targets.length) substituteNode(c, targets[i++], keep, ruleIndex);
      else if (keep.has(c)) substituteNode(c, undefined, keep, ruleIndex);
      else removeNode(c);
    }
    const holder = n.obj!;
    while (i < targets.length) {
      const t = structuredClone(targets[i++]);
      const cur = holder[k];
      if (Array.isArray(cur)) cur.push(t);
      else if (cur === undefined || cur === null) holder[k] = Array.isArray(rObj[k]) ? [t] : t;
      else holder[k] = [cur, t];
    }
  }
  for (const c of n.children) {
    if (c.res === c || replKeys.includes(c.key) || c.visited) continue;
    if (keep.has(c)) substituteNode(c, undefined, keep, ruleIndex);
    else removeNode(c);
  }
  if (n.primitive) setValue(n, repl === undefined ? null : coercePrimitive(n, repl));
}

function normalizeScalar(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') {
    const s = (v as { toString(): string }).toString();
    return s;
  }
  return v;
}

function addLabels(res: ResourceNode) {
  for (const s of res.subResources) addLabels(s);
  if (res.contained || res.flags === 0) return;
  const obj = res.obj!;
  let meta = obj.meta as Record<string, unknown> | undefined;
  if (!isObj(meta)) {
    meta = {};
    obj.meta = meta; // the copy kept a place for it after id (model.ts)
  }
  let sec = meta.security as Array<Record<string, unknown>> | undefined;
  if (!Array.isArray(sec)) sec = meta.security = [];
  for (const [flag, coding] of LABELS) {
    if (!(res.flags & flag)) continue;
    if (sec.some((c) => c && typeof c.code === 'string' && c.code.toUpperCase() === coding.code)) continue;
    sec.push({ ...coding });
  }
}

/** Removes elements left without value or children (never a resource). Returns true if obj is empty. */
function prune(obj: Record<string, unknown>, isResource: boolean): boolean {
  for (const key of Object.keys(obj)) {
    if (!(key in obj)) continue;
    if (key === 'resourceType' && isResource) continue;
    let base = key;
    if (key.charCodeAt(0) === 95) {
      base = key.slice(1);
      if (obj[base] !== undefined && obj[base] !== null) continue; // handled with its value
    }
    const v = obj[base];
    const e = obj[`_${base}`];
    if (Array.isArray(v) || Array.isArray(e)) {
      pruneArray(obj, base);
      continue;
    }
    if (isObj(v)) {
      if (prune(v, typeof v.resourceType === 'string')) delete obj[base];
      continue;
    }
    // primitive (or null) with optional _base object
    let extAlive = false;
    if (isObj(e)) {
      extAlive = !prune(e, false);
      if (!extAlive) delete obj[`_${base}`];
    } else if (e !== undefined) delete obj[`_${base}`];
    if (v === null || v === undefined) delete obj[base];
  }
  for (const k in obj) if (k !== 'resourceType' || !isResource) return false;
  return !isResource;
}

function pruneArray(obj: Record<string, unknown>, base: string) {
  const v = obj[base];
  const e = obj[`_${base}`];
  const vals = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  const exts = Array.isArray(e) ? e : isObj(e) ? [e] : [];
  const n = Math.max(vals.length, exts.length);
  const outV: unknown[] = [];
  const outE: unknown[] = [];
  let anyE = false;
  let anyV = false;
  for (let i = 0; i < n; i++) {
    let val = vals[i];
    let ext = exts[i];
    if (isObj(ext) && prune(ext, false)) ext = null;
    if (isObj(val)) {
      if (prune(val, typeof val.resourceType === 'string')) val = null;
    }
    const hasV = val !== null && val !== undefined;
    const hasE = isObj(ext);
    if (!hasV && !hasE) continue;
    outV.push(hasV ? val : null);
    outE.push(hasE ? ext : null);
    if (hasV) anyV = true;
    if (hasE) anyE = true;
  }
  if (outV.length === 0) {
    delete obj[base];
    delete obj[`_${base}`];
    return;
  }
  if (anyV || anyE) obj[base] = anyV ? outV : outV; // values array (nulls align with _base)
  if (!anyV) delete obj[base];
  if (anyE) obj[`_${base}`] = outE;
  else delete obj[`_${base}`];
  if (!anyV && anyE) obj[base] = outV; // keep the aligned nulls
}

/** A change's path is worked out only when someone reads it (the hot path rarely does). */
function lazyChanges(log: Array<[Node, Method | 'freeText', number]>): Change[] {
  return log.map(([n, method, flag]) => {
    let path: string | undefined;
    return {
      get path() {
        return (path ??= locationOf(n));
      },
      method,
      operation: method === 'freeText' ? 'scrubbed' : OP_NAME[flag],
      toJSON() {
        return { path: this.path, method: this.method, operation: this.operation };
      },
    } as Change;
  });
}

export { F as OPERATION_FLAGS };
