/**
 * Policy and classification bench.
 * - decide(): µs per message-destination for the shipped pk pack over Synthea-classified
 *   inputs and five destinations (treatment in PK, treatment abroad, research abroad,
 *   unknown, emergency). Target (issue 3): ≤ 50 µs. Baseline: a hand-written residency
 *   check (one Set lookup) over the same inputs, in the same run.
 * - classify(): ms per Synthea bundle. Baseline: JSON.parse of the same bundle text.
 * - explain(): µs per decision rendered (only for `policy explain`, not on the hot path).
 * Medians over batches.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { classify } from '../src/classify/index.js';
import type { Classification, FhirResource, PurposeOfUse } from '../src/model/index.js';
import { decide, explain, loadPolicy, type PolicyDestination, type PolicyInput } from '../src/policy/index.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');
const BATCH = 10_000;
const BATCHES = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export async function run(): Promise<Record<string, string | number>> {
  const policy = await loadPolicy(join(process.cwd(), 'policies', 'pk'));
  const now = new Date('2026-06-01T00:00:00Z');
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
  const texts = files.map((f) => readFileSync(join(FIXTURES, f), 'utf8'));
  const bundles = texts.map((t) => JSON.parse(t) as FhirResource);
  const patientBundles = bundles.filter((b) => classify(b, { now }).patient);

  // classify(): per bundle, against JSON.parse of the same text.
  const classifyMs: number[] = [];
  const bigIdx = texts.map((t) => t.length).indexOf(Math.max(...texts.map((t) => t.length)));
  for (let r = 0; r < 30; r++) {
    const t0 = performance.now();
    for (const b of patientBundles) classify(b, { now });
    classifyMs.push((performance.now() - t0) / patientBundles.length);
  }
  const parseOnly: number[] = [];
  const patientTexts = texts.filter((_, i) => classify(bundles[i], { now }).patient);
  for (let r = 0; r < 30; r++) {
    const t0 = performance.now();
    for (const t of patientTexts) JSON.parse(t);
    parseOnly.push((performance.now() - t0) / patientTexts.length);
  }
  const entries = patientBundles.reduce((n, b) => n + ((b.entry as unknown[]) ?? []).length, 0) / patientBundles.length;

  // decide(): Synthea classifications plus one sensitive variant of each.
  const classifications: Classification[] = [];
  for (const b of patientBundles) {
    const c = classify(b, { now });
    classifications.push(c, { ...c, categories: ['mental-health'], labels: [...c.labels, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] });
  }
  const dests: Array<[string, PolicyDestination | undefined, PurposeOfUse]> = [
    ['national-telemed', { name: 'national-telemed', country: 'PK', kind: 'treatment' }, 'TREAT'],
    ['dubai-telemed', { name: 'dubai-telemed', country: 'AE', kind: 'treatment' }, 'TREAT'],
    ['eu-research', { name: 'eu-research', country: 'DE', kind: 'research' }, 'HRESCH'],
    ['unknown', undefined, 'TREAT'],
    ['national-telemed', { name: 'national-telemed', country: 'PK', kind: 'treatment' }, 'ETREAT'],
  ];
  const inputs: PolicyInput[] = [];
  for (const c of classifications) {
    for (const [name, destination, purpose] of dests) inputs.push({ destinationName: name, destination, purpose, classification: c, source: 'lan', now });
  }
  const decideUs: number[] = [];
  const baselineUs: number[] = [];
  const PK = new Set(['PK']);
  let sink = 0;
  for (let b = 0; b < BATCHES + 2; b++) {
    let t0 = performance.now();
    for (let i = 0; i < BATCH; i++) sink += decide(policy, inputs[i % inputs.length]).effect === 'permit' ? 1 : 0;
    const d = ((performance.now() - t0) * 1000) / BATCH;
    t0 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const inp = inputs[i % inputs.length];
      sink += inp.destination && PK.has(inp.destination.country) && inp.classification.identifiable ? 1 : 0;
    }
    const base = ((performance.now() - t0) * 1000) / BATCH;
    if (b >= 2) {
      decideUs.push(d);
      baselineUs.push(base);
    }
  }
  const explainUs: number[] = [];
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) sink += explain(decide(policy, inputs[i % inputs.length])).length;
    explainUs.push(((performance.now() - t0) * 1000) / 1000);
  }
  if (sink < 0) console.log(sink);
  const dMed = median(decideUs);
  return {
    'policy.decide µs/decision (median, target ≤ 50)': round(dMed, 3),
    'policy.decide p90-of-batches µs': round([...decideUs].sort((a, b) => a - b)[Math.floor(decideUs.length * 0.9)], 3),
    'policy.decide decisions/s': Math.round(1e6 / dMed),
    'policy.baseline residency check µs': round(median(baselineUs), 4),
    'policy.rules in pack': policy.rules.length,
    'policy.inputs (classifications × destinations)': inputs.length,
    'policy.explain+decide µs (CLI only)': round(median(explainUs), 1),
    'classify ms/Synthea bundle (median)': round(median(classifyMs), 3),
    'classify entries per bundle (mean)': Math.round(entries),
    'classify baseline JSON.parse ms/bundle': round(median(parseOnly), 3),
    'classify / JSON.parse ratio': round(median(classifyMs) / median(parseOnly), 2),
    'classify largest fixture bytes': texts[bigIdx].length,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(52)} ${v}`);
}
