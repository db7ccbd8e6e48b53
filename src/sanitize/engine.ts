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
import type { FhirResource } from '../model/index.js';
import {
  abstractPostalCode, dateShiftOffset, encryptAesBase64, hmacHex, isValidAesKey, keyBytes, redactDate, shiftDate, transformReferenceId,
  type DateKind, type KeyMaterial,
} from './algorithms.js';
import { withTree } from './bridge.js';
import { SanitizeError } from './errors.js';
import { mayKeep, removeUnreached } from './allowlist.js';
import { compileFreeText, NO_IDENTITIES, PATTERN_NAMES, type FreeTextEngine } from './freetext.js';
import { buildTree, getValue, locationOf, QUANTITY_TYPES, setValue, type Node, type ResourceNode } from './model.js';
import { addLabels, F, LABELS, lazyChanges, prune, type Change, type ChangeMethod } from './output.js';
import { parseProfile, ProfileError, type Method, type ProfileSpec } from './profile.js';
import { makeProvenance } from './provenance.js';
import { compileRule, makeGeneralizer, type CompiledRule } from './rules.js';
import { markKeep, markVisited, substituteNode } from './substitute.js';

export { ProfileError } from './profile.js';
export { InvalidInputError } from './model.js';
export { SanitizeError } from './errors.js';
export type { Change, Operation } from './output.js';

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

const URL_LIKE = new Set(['Bundle.entry.fullUrl', 'Bundle.entry.request.url', 'Bundle.entry.response.location']);
const NUMERIC = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);
const INTEGER = new Set(['integer', 'positiveInt', 'unsignedInt']);

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
  const allowList = spec.mode === 'allow-list';

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
      const changeLog: Array<[Node, ChangeMethod, number]> = [];
      const record = (n: Node, method: ChangeMethod, flag: number) => {
        changeLog.push([n, method, flag]);
        return flag;
      };
      const at = now();
      /** Allow-list mode: the elements a rule reached and may keep (everything else is removed). */
      const reached: Set<Node> | null = allowList ? new Set() : null;
      try {
        const identities = freeText?.spec.scrubKnownIdentities ? freeText.collectIdentities(root, applyOpts?.identities ?? []) : NO_IDENTITIES;
        withTree(root, () => processResource(root));
        if (reached) {
          removeUnreached(root, reached, (n) => {
            record(n, 'allowList', F.redact);
            for (let r: ResourceNode | undefined = n.res; r; r = r.parent?.res) r.flags |= F.redact;
          });
        }
        if (freeText) {
          freeText.scrub(root, identities, (n) => {
            record(n, 'freeText', F.redact);
            // label the resource, and the ones holding it (a contained resource's labels go up)
            for (let r: ResourceNode | undefined = n.res; r; r = r.parent?.res) r.flags |= F.redact;
          });
        }
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
      }

      function processResource(res: ResourceNode): number {
        let flags = 0;
        for (const rule of rulesFor(res.resourceType)) {
          const matched = rule.match(res);
          for (const n of matched) flags |= processRecursive(n, rule, true);
        }
        for (const sub of res.subResources) flags |= processResource(sub);
        res.flags |= flags;
        return flags;
      }

      /** `keepable`: in allow-list mode, whether this element may stay (see allowlist.ts). */
      function processRecursive(n: Node, rule: CompiledRule, direct: boolean, keepable = true): number {
        if (n.visited) return 0;
        const keep = reached !== null && keepable && mayKeep(n, direct);
        if (keep) reached.add(n);
        let f = processNode(n, rule);
        n.visited = true;
        for (const c of n.children) {
          if (c.res === c) continue; // an embedded resource is processed as a resource
          f |= processRecursive(c, rule, false, keep || reached === null);
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
            const comparator = n.parent.children.find((c) => c.name === 'comparator');
            if (comparator) {
              setValue(comparator, '>=');
              comparator.visited = true; // a later rule must not undo "90+"
            } else n.parent.obj!.comparator = '>=';
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

function normalizeScalar(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') {
    const s = (v as { toString(): string }).toString();
    return s;
  }
  return v;
}
