/**
 * evaluateConsent: a pure function from (compiled consents of one patient, request)
 * to a ConsentDecision with its reasons. The algorithm is stated in docs/consent.md;
 * in short:
 *
 * 1. The data of a request is split into facets: one per resource type, one per
 *    sensitive category (from categories and from sensitivity labels).
 * 2. A consent counts when it is active, its scope fits the purpose, and its root
 *    provision matches (root period covers now, actor, purpose …).
 * 3. Per facet, walk the provision tree: a provision matches when all its present
 *    elements match; the deepest matching provision decides; among matching siblings
 *    deny overrides. Where the request lacks a fact an element tests (dataPeriod,
 *    data references, unknown codes), a deny provision is taken to match and a permit
 *    provision not ("unknown means deny").
 * 4. A sensitive-category facet is released only by a permit whose path names the
 *    category (securityLabel, class or code); a general permit, or the default, does not.
 * 5. Minors: a consent without a RelatedPerson performer cannot permit; its denials count.
 * 6. Across consents, per facet: deny overrides permit. No consent → defaultWhenNone.
 * 7. All resource-type facets denied → deny; none denied → permit; otherwise deny,
 *    or — only when the caller sets allowPartial (it can honour a redact obligation) —
 *    permit-with-obligations (redact the denied types/categories).
 */
import type { Category, ConsentDecision, Obligation, PurposeOfUse, Reason } from '../model/index.js';
import { categoriesOfLabels, categoryOfCode, CATEGORY_CODES } from './labels.js';
import { normalizeDataReference } from './compile.js';
import { compilePeriod, DEFAULT_TIMEZONE } from './time.js';
import {
  DEFAULT_ACTIONS,
  DEFAULT_MINOR_AGE,
  DEFAULT_RECIPIENT_ROLES,
  type CompiledConsent,
  type CompiledProvision,
  type ConsentRequest,
} from './types.js';

/** Broader purpose codes (v3-ActReason) that also cover narrower ones. */
export const PURPOSE_COVERS: Readonly<Record<string, readonly string[]>> = {
  TREAT: ['ETREAT'],
  HRESCH: ['CLINTRCH'],
};

const RESEARCH_PURPOSES = new Set(['HRESCH', 'CLINTRCH']);
const TREATMENT_PURPOSES = new Set(['TREAT', 'ETREAT', 'COC', 'CAREMGT']);

/**
 * The purposes a consent can speak for: its root provision's purposes (with the narrower ones they
 * cover), within what its scopes allow (research → HRESCH/CLINTRCH, treatment → TREAT/ETREAT/COC/CAREMGT);
 * null when it may speak for any purpose (scope patient-privacy and no root purpose).
 */
export function consentPurposes(c: CompiledConsent): PurposeOfUse[] | null {
  const byScope = new Set<string>();
  let any = false;
  for (const s of c.scopes) {
    if (s === 'research') RESEARCH_PURPOSES.forEach((x) => byScope.add(x));
    else if (s === 'treatment') TREATMENT_PURPOSES.forEach((x) => byScope.add(x));
    else any = true;
  }
  let out: Set<string> | null = any ? null : byScope;
  if (c.root.purposes) {
    const root = new Set(c.root.purposes.flatMap((p) => [p, ...(PURPOSE_COVERS[p] ?? [])]));
    out = out === null ? root : new Set([...out].filter((p) => root.has(p)));
  }
  return out === null ? null : ([...out] as PurposeOfUse[]);
}

/** Consent.scope codes that may answer a request: patient-privacy always, plus treatment/research by purpose. */
export function acceptedScopes(request: Pick<ConsentRequest, 'scope' | 'purpose'>): string[] {
  if (request.scope) return [request.scope];
  if (RESEARCH_PURPOSES.has(request.purpose)) return ['patient-privacy', 'research'];
  if (TREATMENT_PURPOSES.has(request.purpose)) return ['patient-privacy', 'treatment'];
  return ['patient-privacy'];
}

type Facet = { kind: 'type'; value: string } | { kind: 'cat'; value: Category };

/** Request facts computed once per evaluation. */
interface Prepared {
  req: ConsentRequest;
  now: number;
  names: string[];
  displayNames: string[];
  roles: readonly string[];
  rolesGiven: boolean;
  actions: readonly string[];
  labels: { system?: string; code?: string }[];
  dataPeriod: { start: number; end: number } | null;
  refs: string[] | null;
}

function prepare(req: ConsentRequest): Prepared {
  const names = [req.actor.destination, ...(req.actor.organization ? [req.actor.organization] : [])];
  let dataPeriod: Prepared['dataPeriod'] = null;
  if (req.dataPeriod && (req.dataPeriod.start !== undefined || req.dataPeriod.end !== undefined)) {
    const p = compilePeriod(req.dataPeriod, req.timezone ?? DEFAULT_TIMEZONE);
    // An unreadable data period is unknown, not "all time".
    dataPeriod = 'error' in p ? null : p;
  }
  return {
    req,
    now: req.now.getTime(),
    names,
    displayNames: names.map((n) => n.trim().toLowerCase()),
    roles: req.actor.roles ?? DEFAULT_RECIPIENT_ROLES,
    rolesGiven: req.actor.roles !== undefined,
    actions: req.actions ?? DEFAULT_ACTIONS,
    labels: req.labels,
    dataPeriod,
    refs: req.dataReferences ? req.dataReferences.map(normalizeDataReference) : null,
  };
}

const RESOURCE_TYPE = /^[A-Z][A-Za-z]+$/;
/** Envelopes, not data: a Bundle's entries and a message's focus are what consent speaks about. */
export const CONTAINER_TYPES: ReadonlySet<string> = new Set(['Bundle', 'MessageHeader']);

/** Does provision `n` match facet `f` of the request? All present elements must match. */
function matches(n: CompiledProvision, f: Facet, p: Prepared): boolean {
  const deny = n.type === 'deny';
  if (n.period && (p.now < n.period.start || p.now > n.period.end)) return false;
  if (n.actors) {
    const ok = n.actors.some((a) => {
      const named =
        p.names.some((x) => a.references.includes(`Organization/${x}`) || a.identifierValues.includes(x)) ||
        (a.display !== undefined && p.displayNames.includes(a.display));
      if (!named) return false;
      return a.roles.length === 0 || a.roles.some((r) => p.roles.includes(r)) || (deny && !p.rolesGiven);
    });
    if (!ok) return false;
  }
  if (n.actions && !n.actions.some((a) => p.actions.includes(a))) return false;
  if (n.purposes && !n.purposes.some((c) => c === p.req.purpose || PURPOSE_COVERS[c]?.includes(p.req.purpose))) {
    return false;
  }
  if (n.dataPeriod) {
    const d = p.dataPeriod;
    if (!d) {
      if (!deny) return false;
    } else if (deny ? d.start > n.dataPeriod.end || d.end < n.dataPeriod.start : d.start < n.dataPeriod.start || d.end > n.dataPeriod.end) {
      return false;
    }
  }
  if (n.labels) {
    const ok = n.labels.some((l) => {
      const cat = categoryOfCode(l.code);
      if (cat) return f.kind === 'cat' && f.value === cat;
      return p.labels.some((r) => r.code === l.code && (!r.system || !l.system || r.system === l.system));
    });
    if (!ok) return false;
  }
  if (n.classes) {
    const ok = n.classes.some((c) => {
      const cat = categoryOfCode(c);
      if (cat) return f.kind === 'cat' && f.value === cat;
      if (RESOURCE_TYPE.test(c) && !(f.kind === 'type' && f.value === '*')) return f.kind === 'type' && f.value === c;
      return deny; // a profile or an unknown class, or unknown resource types: only a deny matches
    });
    if (!ok) return false;
  }
  if (n.codes) {
    const ok = n.codes.some((c) => {
      const cat = categoryOfCode(c);
      if (cat) return f.kind === 'cat' && f.value === cat;
      return deny; // the request does not carry clinical codes: only a deny matches
    });
    if (!ok) return false;
  }
  if (n.data) {
    const refs = p.refs;
    if (!refs) {
      if (!deny) return false;
    } else {
      const mine = f.kind === 'type' ? refs.filter((r) => r.startsWith(`${f.value}/`)) : refs;
      const ok = deny ? mine.some((r) => n.data!.includes(r)) : mine.length > 0 && mine.every((r) => n.data!.includes(r));
      if (!ok) return false;
    }
  }
  return true;
}

interface NodeResult {
  effect: 'permit' | 'deny';
  node: CompiledProvision;
  named: boolean;
}

/** Among sibling results: deny over permit, and a permit that names the category over one that does not. */
const rank = (r: NodeResult) => (r.effect === 'deny' ? 2 : r.named ? 1 : 0);

/** The deepest matching provision under (and including) n; deny overrides among siblings. */
function evalNode(n: CompiledProvision, f: Facet, p: Prepared, named: boolean): NodeResult | null {
  if (!matches(n, f, p)) return null;
  const nowNamed = named || (f.kind === 'cat' && n.namesCategories.includes(f.value));
  let best: NodeResult | null = null;
  for (const child of n.children) {
    const r = evalNode(child, f, p, nowNamed);
    if (r && (best === null || rank(r) > rank(best))) best = r;
    if (best?.effect === 'deny') break;
  }
  return best ?? { effect: n.type, node: n, named: nowNamed };
}

type FacetVerdict =
  | { kind: 'deny' | 'permit' | 'unreleased'; consent: CompiledConsent; node: CompiledProvision }
  | { kind: 'none' };

const facetName = (f: Facet) => (f.kind === 'type' ? (f.value === '*' ? 'data of unknown type' : f.value) : f.value);
const ruleId = (c: CompiledConsent, n: CompiledProvision) => `consent:${c.id}/${c.version}#${n.path}`;
const where = (c: CompiledConsent, n: CompiledProvision) => `consent ${c.id} (version ${c.version}) at ${n.path} (${n.type})`;

/** Pure: the decision for one patient's consents and one request, with plain-words reasons. */
export function evaluateConsent(consents: readonly CompiledConsent[], request: ConsentRequest): ConsentDecision {
  const p = prepare(request);
  const scopes = acceptedScopes(request);
  // An unknown age (no birth date in the message, none remembered for this patient) takes the
  // stricter reading: consent as for a minor, so only a guardian's consent can permit.
  const ageUnknown = request.ageYears === null;
  const minor = ageUnknown || request.ageYears! < DEFAULT_MINOR_AGE;
  const notes: Reason[] = [];

  const usable = consents.filter((c) => c.status === 'active' && c.scopes.some((s) => scopes.includes(s)));

  const dataTypes = request.resourceTypes.filter((t) => !CONTAINER_TYPES.has(t));
  const types = dataTypes.length > 0 ? [...new Set(dataTypes)] : ['*'];
  const cats = [...new Set([...request.categories, ...categoriesOfLabels(request.labels)])];
  const facets: Facet[] = [
    ...types.map((value) => ({ kind: 'type', value }) as Facet),
    ...cats.map((value) => ({ kind: 'cat', value }) as Facet),
  ];

  const minorNoted = new Set<string>();
  const verdicts: FacetVerdict[] = facets.map((f) => {
    let deny: FacetVerdict | null = null;
    let permit: FacetVerdict | null = null;
    let unreleased: FacetVerdict | null = null;
    for (const c of usable) {
      const r = evalNode(c.root, f, p, false);
      if (!r) continue;
      if (r.effect === 'deny') {
        deny = { kind: 'deny', consent: c, node: r.node };
        break;
      }
      if (minor && !c.guardianPerformer) {
        if (!minorNoted.has(c.id)) {
          minorNoted.add(c.id);
          notes.push({
            ruleId: ruleId(c, r.node),
            text: ageUnknown
              ? `consent ${c.id} (version ${c.version}) cannot permit: the patient's age is unknown (no birth date in the message or seen before), so consent counts as for a minor, and no RelatedPerson (guardian) is its performer`
              : `consent ${c.id} (version ${c.version}) cannot permit: the patient is under ${DEFAULT_MINOR_AGE} and no RelatedPerson (guardian) is its performer`,
          });
        }
        continue;
      }
      if (f.kind === 'cat' && !r.named) unreleased ??= { kind: 'unreleased', consent: c, node: r.node };
      else permit ??= { kind: 'permit', consent: c, node: r.node };
    }
    return deny ?? permit ?? unreleased ?? { kind: 'none' };
  });

  // Group facets by what decided them, for reasons.
  const reasons: Reason[] = [];
  const groups = new Map<string, { facets: Facet[]; v: FacetVerdict; denied: boolean }>();
  const denied: boolean[] = verdicts.map((v, i) =>
    v.kind === 'deny' || v.kind === 'unreleased' || (v.kind === 'none' && (facets[i]!.kind === 'cat' || request.defaultWhenNone === 'deny')),
  );
  verdicts.forEach((v, i) => {
    const key = v.kind === 'none' ? `none:${facets[i]!.kind}` : `${v.kind}:${ruleId(v.consent, v.node)}`;
    const g = groups.get(key) ?? { facets: [], v, denied: denied[i]! };
    g.facets.push(facets[i]!);
    groups.set(key, g);
  });
  for (const { facets: fs, v } of groups.values()) {
    const what = fs.map(facetName).join(', ');
    if (v.kind === 'deny') reasons.push({ ruleId: ruleId(v.consent, v.node), text: `${what}: denied by ${where(v.consent, v.node)}` });
    else if (v.kind === 'permit') reasons.push({ ruleId: ruleId(v.consent, v.node), text: `${what}: permitted by ${where(v.consent, v.node)}` });
    else if (v.kind === 'unreleased') {
      const codes = fs.map((f) => CATEGORY_CODES[f.value as Category]?.[0] ?? f.value).join('/');
      reasons.push({
        ruleId: ruleId(v.consent, v.node),
        text: `${what}: not released — ${where(v.consent, v.node)} is a general permit; a provision must name ${codes}`,
      });
    } else if (fs[0]!.kind === 'cat') {
      reasons.push({ ruleId: 'consent:none', text: `${what}: denied — no consent provision names this sensitive category` });
    } else {
      reasons.push({
        ruleId: 'consent:default',
        text: `${what}: no active consent applies to ${request.actor.destination} for ${request.purpose}; the destination's default is ${request.defaultWhenNone === 'deny' ? 'deny (opt-in)' : 'permit (opt-out)'}`,
      });
    }
  }
  reasons.push(...notes);

  const typeIdx = facets.map((f, i) => (f.kind === 'type' ? i : -1)).filter((i) => i >= 0);
  const allTypesDenied = typeIdx.every((i) => denied[i]);
  const anyDenied = denied.some(Boolean);
  const decisiveIdx = allTypesDenied
    ? typeIdx.find((i) => verdicts[i]!.kind !== 'none') ?? typeIdx[0]!
    : verdicts.findIndex((v, i) => !denied[i] && v.kind !== 'none');
  const decisive = decisiveIdx >= 0 ? verdicts[decisiveIdx]! : ({ kind: 'none' } as FacetVerdict);
  const source =
    decisive.kind === 'none'
      ? {}
      : { consentId: decisive.consent.id, consentVersion: String(decisive.consent.version), provisionPath: decisive.node.path };

  if (allTypesDenied || (anyDenied && request.allowPartial !== true)) {
    if (!allTypesDenied) reasons.push({ text: 'part of the data is denied and partial release is not allowed here' });
    return { effect: 'deny', outcome: 'deny', ...source, reasons, obligations: [] };
  }
  if (!anyDenied) return { effect: 'permit', outcome: 'permit', ...source, reasons, obligations: [] };
  const redact: Obligation = {
    kind: 'redact',
    resourceTypes: facets.filter((f, i) => f.kind === 'type' && denied[i]).map((f) => f.value),
    categories: facets.filter((f, i) => f.kind === 'cat' && denied[i]).map((f) => f.value as Category),
    ruleId: source.consentId ? `consent:${source.consentId}/${source.consentVersion}` : 'consent:default',
  };
  return { effect: 'permit', outcome: 'permit-with-obligations', ...source, reasons, obligations: [redact] };
}
