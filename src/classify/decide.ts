/**
 * From facts to a Classification. Identifiability is a property of the content: a
 * person found anywhere, clinical data whose patient cannot be determined, or content
 * that cannot be read all make data identifiable. A sender's labels (L, ANONYED) never
 * make it less so; they can only add categories and raise confidentiality.
 */
import { CATEGORIES, SYSTEMS, type Classification, type Coding, type PatientIdentity } from '../model/index.js';
import type { Facts } from './facts.js';
import { CATEGORY_TAGS, TAG_CATEGORY, confidentiality, isConfidentiality, mergeLabels, sensitivity } from './labels.js';
import { ageInYears } from './patient.js';

/** Sender claims that the data was altered to be anonymous: dropped when the content says otherwise. */
const ALTERATION_CLAIMS = new Set(['ANONYED', 'PSEUDED', 'MASKED', 'REDACTED', 'AGGRED', 'ABSTRED']);

function patientOf(facts: Facts): PatientIdentity | null {
  const first = facts.patients[0];
  const refs = [...new Set(facts.refIds)];
  const cnics = [...new Set(facts.textCnics)].map((c) => `cnic|${c}`);
  if (first) {
    // References and text CNICs belong to this patient only when there is a single one.
    const more = facts.patients.length === 1 ? [...refs, ...cnics] : [];
    return { ...first, ids: [...new Set([...first.ids, ...more])] };
  }
  const ids = [...new Set([...refs, ...cnics])];
  if (!ids.length) return null;
  const key = ids.find((i) => i.startsWith('cnic|')) ?? ids[0];
  return { key, ids };
}

export function decide(facts: Facts, now: Date): Classification {
  const reasons = new Set<string>();
  const patient = patientOf(facts);
  // Sender labels: sensitivity tags add categories (raise only).
  for (const c of facts.security) {
    const code = typeof c.code === 'string' ? c.code : '';
    if (c.system === SYSTEMS.actCode && TAG_CATEGORY[code]) {
      facts.categories.add(TAG_CATEGORY[code]);
      facts.tags.add(code);
    }
  }
  let identifiable = false;
  if (facts.patients.length) {
    identifiable = true;
    reasons.add(facts.patients.length > 1 ? `${facts.patients.length} distinct patients found` : 'a patient is identified in the content');
  } else if (patient) {
    identifiable = true;
    reasons.add('the content refers to a patient');
  }
  if (facts.person) identifiable = true;
  if (facts.clinical && !patient) {
    identifiable = true;
    reasons.add('clinical data whose patient cannot be determined is treated as identifiable');
  }
  if (facts.opaque) {
    identifiable = true;
    reasons.add('content that cannot be read is treated as identifiable');
  }
  for (const r of facts.reasons) reasons.add(r);
  const senderSaysDeidentified = facts.security.some(
    (c) => (isConfidentiality(c) && (c.code === 'L' || c.code === 'U')) || (c.system === SYSTEMS.observationValue && ALTERATION_CLAIMS.has(c.code ?? '')),
  );
  if (identifiable && senderSaysDeidentified) reasons.add("the sender's de-identified label is ignored: identifiability is computed from content");

  const categories = CATEGORIES.filter((c) => facts.categories.has(c));
  for (const c of categories) reasons.add(`sensitive category ${c} from codes or labels in the content`);
  const derived: Coding[] = [];
  if (identifiable) derived.push(confidentiality(categories.length ? 'R' : 'N'));
  const tags = new Set<string>(facts.tags);
  for (const c of categories) if (![...tags].some((t) => TAG_CATEGORY[t] === c)) tags.add(CATEGORY_TAGS[c][0]);
  for (const t of tags) derived.push(sensitivity(t));
  const kept = identifiable
    ? facts.security.filter((c) => !(c.system === SYSTEMS.observationValue && ALTERATION_CLAIMS.has(c.code ?? '')))
    : facts.security;
  return {
    patient,
    ageYears: ageInYears(patient?.birthDate, now),
    categories,
    labels: mergeLabels(kept, derived),
    resourceTypes: [...facts.resourceTypes].sort(),
    identifiable,
    opaque: facts.opaque,
    reasons: [...reasons],
    patients: facts.patients,
  };
}
