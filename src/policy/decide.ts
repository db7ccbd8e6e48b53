/**
 * decide(): one message, one destination, one answer with its reasons. Pure.
 *
 * How rules combine (also stated in every policy file and in docs/policy.md):
 *  1. Form rules — rules whose obligations name a de-identifying sanitize profile — are
 *     judged first, on the data as it arrives. If one matches, the data will leave
 *     de-identified, and every other rule judges it in that form.
 *  2. All other rules are judged on the data as it will leave.
 *  3. Deny overrides: if any matching rule denies, the answer is deny (its reason given).
 *  4. Otherwise, if at least one matching rule permits, the answer is permit with the
 *     obligations of every matching rule (they accumulate).
 *  5. Nothing permits → deny. Unknown means deny.
 */
import { SYSTEMS, type Category, type Classification, type Coding, type Obligation, type PurposeOfUse } from '../model/index.js';
import { isKnownLabel } from '../classify/index.js';
import type { CompiledPolicy, CompiledRule, Decision, EvalContext, PolicyInput, TraceStep } from './types.js';

const DEIDENTIFIED_LABELS: Coding[] = [
  { system: SYSTEMS.confidentiality, code: 'L' },
  { system: SYSTEMS.observationValue, code: 'ANONYED' },
];

function contextOf(input: PolicyInput, data: Classification): EvalContext {
  const labelKeys = new Set<string>();
  let unknownLabels = false;
  for (const l of data.labels) {
    labelKeys.add(`${l.system ?? ''}|${l.code ?? ''}`);
    if (!unknownLabels && !isKnownLabel(l)) unknownLabels = true;
  }
  return { destination: input.destination, purpose: input.purpose, source: input.source, data, labelKeys, unknownLabels, opaque: input.opaque === true, now: input.now };
}

/** The data as it will leave after a de-identifying sanitize profile. */
function deidentifiedView(input: PolicyInput, ctx: EvalContext): EvalContext {
  const labels = [
    ...DEIDENTIFIED_LABELS,
    ...ctx.data.labels.filter((l) => l.system !== SYSTEMS.confidentiality && !(l.system === SYSTEMS.observationValue && l.code === 'ANONYED')),
  ];
  return contextOf(input, { ...ctx.data, identifiable: false, labels });
}

function instantiate(rule: CompiledRule, ctx: EvalContext): Obligation[] {
  const out: Obligation[] = [];
  for (const o of rule.obligations) {
    if ('require-consent' in o) {
      const rc = o['require-consent'];
      const purposes: PurposeOfUse[] = !rc.purposes || rc.purposes === 'of-message' ? [ctx.purpose] : rc.purposes;
      const categories: Category[] | undefined = rc.categories === 'of-data' ? ctx.data.categories : rc.categories;
      out.push({
        kind: 'require-consent',
        purposes,
        scope: rc.scope ?? 'patient-privacy',
        ...(categories && categories.length ? { categories: [...categories] } : {}),
        ruleId: rule.id,
      });
    } else if ('sanitize' in o) out.push({ kind: 'sanitize', profile: o.sanitize, ruleId: rule.id });
    else if ('label' in o) out.push({ kind: 'label', labels: o.label.map((code) => ({ system: SYSTEMS.actCode, code })), ruleId: rule.id });
    else if ('seal' in o) out.push({ kind: 'seal', required: o.seal, ruleId: rule.id });
  }
  return out;
}

interface Tally {
  trace: TraceStep[];
  denies: CompiledRule[];
  permits: CompiledRule[];
  obligations: Obligation[];
  contributors: string[];
  deidentifiedBy?: string;
}

function judge(rules: CompiledRule[], ctx: EvalContext, t: Tally) {
  for (const r of rules) {
    let failed: TraceStep['failed'];
    for (const c of r.conditions) {
      if (!c.test(ctx)) {
        failed = { field: c.field, text: c.text, actual: c.actual(ctx) };
        break;
      }
    }
    // Object literals with a fixed shape: object spread here cost ~5 µs per step.
    if (failed) {
      t.trace.push({ ruleId: r.id, description: r.description, source: r.source, status: r.status, phase: r.phase, matched: false, failed });
      continue;
    }
    const step: TraceStep = {
      ruleId: r.id,
      description: r.description,
      source: r.source,
      status: r.status,
      phase: r.phase,
      matched: true,
      held: r.texts,
      effect: r.effect,
      reason: r.reason,
      exception: r.exception,
      obligations: undefined,
    };
    if (r.deidentifies) t.deidentifiedBy ??= r.id;
    if (r.effect === 'deny') t.denies.push(r);
    else {
      if (r.effect === 'permit') t.permits.push(r);
      if (r.obligations.length) {
        const obs = instantiate(r, ctx);
        step.obligations = obs;
        t.obligations.push(...obs);
      }
      t.contributors.push(r.id);
    }
    t.trace.push(step);
  }
}

const describeDestination = (input: PolicyInput) =>
  input.destination
    ? `${input.destinationName} (country ${input.destination.country}${input.destination.region ? `, region ${input.destination.region}` : ''}, kind ${input.destination.kind})`
    : `${input.destinationName} (not in the gateway configuration: unknown)`;

export function decide(policy: CompiledPolicy, input: PolicyInput): Decision {
  const arriving = contextOf(input, input.classification);
  const t: Tally = { trace: [], denies: [], permits: [], obligations: [], contributors: [] };
  judge(policy.formRules, arriving, t);
  const deidentifiedBy = t.deidentifiedBy;
  const leaving = deidentifiedBy && arriving.data.identifiable ? deidentifiedView(input, arriving) : arriving;
  judge(policy.mainRules, leaving, t);

  const destinationFacts = describeDestination(input);
  if (t.denies.length) {
    return {
      effect: 'deny',
      destination: input.destinationName,
      purpose: input.purpose,
      policy: policy.ref,
      ruleIds: t.denies.map((r) => r.id),
      reasons: t.denies.map((r) => ({ ruleId: r.id, text: r.reason ?? r.description })),
      obligations: [],
      trace: t.trace,
      deidentifiedBy,
      exceptions: [],
      destinationFacts,
    };
  }
  if (!t.permits.length) {
    return {
      effect: 'deny',
      destination: input.destinationName,
      purpose: input.purpose,
      policy: policy.ref,
      ruleIds: [],
      reasons: [{ text: `no rule permits sending this data to ${input.destinationName} for ${input.purpose}; when nothing permits, the policy denies` }],
      obligations: [],
      trace: t.trace,
      deidentifiedBy,
      exceptions: [],
      destinationFacts,
    };
  }
  const obligations = t.obligations;
  if (!obligations.some((o) => o.kind === 'seal')) obligations.push({ kind: 'seal', required: true, ruleId: 'default:seal' });
  return {
    effect: 'permit',
    destination: input.destinationName,
    purpose: input.purpose,
    policy: policy.ref,
    ruleIds: t.contributors,
    reasons: t.permits.map((r) => ({ ruleId: r.id, text: r.description })),
    obligations,
    trace: t.trace,
    deidentifiedBy,
    exceptions: t.permits.filter((r) => r.exception).map((r) => ({ ruleId: r.id, exception: r.exception! })),
    destinationFacts,
  };
}
