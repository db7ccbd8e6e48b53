/**
 * explain(): a decision in plain words a non-programmer can follow — one line per rule
 * considered (matched or not, and why), then the decision and what must happen next.
 */
import type { Obligation } from '../model/index.js';
import type { Decision, TraceStep } from './types.js';

const show = (v: unknown): string => {
  if (Array.isArray(v)) return v.length ? v.join(', ') : 'nothing';
  return String(v);
};

export function describeObligation(o: Obligation): string {
  switch (o.kind) {
    case 'require-consent': {
      const parts = [`for ${o.purposes?.join(', ') ?? 'this purpose'}`];
      if (o.categories?.length) parts.push(`naming ${o.categories.join(', ')}`);
      return `an active patient consent (${o.scope ?? 'patient-privacy'}) ${parts.join(', ')} must permit it`;
    }
    case 'sanitize':
      return `de-identify with profile "${o.profile}" before it leaves`;
    case 'label':
      return `add security label${o.labels.length > 1 ? 's' : ''} ${o.labels.map((l) => l.code).join(', ')}`;
    case 'seal':
      return o.required ? 'seal (encrypt) it to the recipient' : 'sealing not required';
  }
  return 'an obligation darwaza does not know';
}

function stepLine(s: TraceStep, n: number): string {
  const head = `${n}. Rule "${s.ruleId}" — ${s.description}\n   (${s.status}; source: ${s.source.replace(/\s+/g, ' ').trim()})`;
  if (!s.matched) {
    return `${head}\n   → did not apply: it requires that ${s.failed!.text}; here ${fieldWords(s.failed!.field)} is ${show(s.failed!.actual)}.`;
  }
  const why = s.held && s.held.length ? `because ${s.held.join(', and ')}` : 'to every message (it has no conditions)';
  const does: string[] = [];
  if (s.effect === 'deny') does.push(`it DENIES: ${s.reason ?? s.description}`);
  if (s.effect === 'permit') does.push('it permits');
  if (s.exception) does.push(`citing the legal exception "${s.exception}" (no consent needed)`);
  for (const o of s.obligations ?? []) does.push(describeObligation(o));
  return `${head}\n   → APPLIED ${why}: ${does.join('; ')}.`;
}

function fieldWords(field: string): string {
  const map: Record<string, string> = {
    'destination.known': 'the destination',
    'destination.name': "the destination's name",
    'destination.country': "the destination's country",
    'destination.region': "the destination's region",
    'destination.kind': "the destination's kind",
    purpose: 'the purpose of use',
    source: 'the sending system',
    'data.identifiable': 'the data',
    'data.sensitive': 'the data',
    'data.categories': "the data's sensitive categories",
    'data.labels': "the data's security labels",
    'data.unknownLabels': 'what the data carries',
    'data.opaque': 'what the data carries',
    'data.resourceTypes': 'the resource types',
    'data.ageUnder': "the patient's age",
    'data.ageAtLeast': "the patient's age",
    time: 'the local time',
  };
  return map[field] ?? field;
}

export function explain(decision: Decision): string {
  const lines: string[] = [];
  lines.push(`Policy ${decision.policy.id} version ${decision.policy.version} (sha256 ${decision.policy.sha256})`);
  lines.push(`Question: may this message go to ${decision.destinationFacts} for purpose ${decision.purpose}?`);
  lines.push('Rules combine deny-overrides: any rule that denies wins; otherwise at least one rule must permit, and the obligations of every rule that applied are added up. If nothing permits, the answer is deny.');
  const form = decision.trace.filter((s) => s.phase === 'form');
  const main = decision.trace.filter((s) => s.phase === 'main');
  let n = 1;
  if (form.length) {
    lines.push('', 'First, the rules that change what leaves (de-identification), judged on the data as it arrives:');
    for (const s of form) lines.push(stepLine(s, n++));
    lines.push(
      decision.deidentifiedBy
        ? `So the data will leave de-identified (rule "${decision.deidentifiedBy}"); the remaining rules judge it in that form.`
        : 'None applied, so the remaining rules judge the data as it arrived.',
    );
  }
  lines.push('', 'The rules, in order:');
  for (const s of main) lines.push(stepLine(s, n++));
  lines.push('');
  if (decision.effect === 'deny') {
    lines.push(`Decision: DENY. ${decision.reasons.map((r) => (r.ruleId ? `${r.text} (rule ${r.ruleId})` : r.text)).join(' ')}`);
    lines.push('Nothing is sent to this destination; the denial is recorded in the audit log with the policy hash.');
  } else {
    lines.push(`Decision: PERMIT, by rule${decision.reasons.length > 1 ? 's' : ''} ${decision.reasons.map((r) => `"${r.ruleId}"`).join(', ')}.`);
    for (const e of decision.exceptions) lines.push(`Legal exception cited: ${e.exception} (rule "${e.ruleId}"); this release is recorded in the audit log.`);
    if (decision.obligations.length) {
      lines.push('Before it leaves:');
      for (const o of decision.obligations) lines.push(`  - ${describeObligation(o)} [${o.ruleId}]`);
    }
  }
  return lines.join('\n');
}
