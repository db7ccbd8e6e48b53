/**
 * The indexed fast paths (nodesByType('T')[.m], plain member chains) must select exactly
 * what fhirpath.js selects for the same path. For every such rule of the shipped profiles
 * that can match the test data, the rule is run alone as `redact`, once as written and once
 * forced through FHIRPath (`….where(true)`), on Synthea and Pakistani data: outputs must be equal.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProfile, loadProfiles } from '../../src/sanitize/index.js';
import type { FhirResource } from '../../src/model/index.js';

const synthea = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

t.test('every fast-pathed rule of the shipped profiles selects what FHIRPath selects', async (t) => {
  const todd = read(join(synthea, 'Todd315_Stamm704_0ce18c7d-fd78-46d9-81b5-8bed231c337a.json'));
  // one entry of each resource type keeps the run short and the coverage of types whole
  const seen = new Set<string>();
  todd.entry = todd.entry.filter((e: { resource: FhirResource }) => !seen.has(e.resource.resourceType) && seen.add(e.resource.resourceType));
  const inputs = [todd, read(join(process.cwd(), 'test', 'fixtures', 'pk-patients', 'zulfiqar-bundle.json'))];
  const types = new Set<string>(['Bundle']);
  for (const b of inputs) for (const e of b.entry) types.add(e.resource.resourceType);

  const profiles = await loadProfiles(join(process.cwd(), 'policies', 'profiles'));
  const paths = new Set<string>();
  for (const p of profiles.values()) for (const r of p.spec.fhirPathRules) paths.add(r.path);
  let compared = 0;
  for (const path of paths) {
    const typed = /^([A-Z][a-zA-Z]*)\./.exec(path)?.[1];
    if (typed && typed !== 'Resource' && !types.has(typed)) continue;
    const fast = /^nodesBy(Type|Name)\(['"][A-Za-z0-9]+['"]\)(\.[A-Za-z0-9]+)?$/.test(path) || /^([A-Z][a-zA-Z]*\.)?[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/.test(path);
    if (!fast) continue;
    const a = compileProfile({ fhirPathRules: [{ path, method: 'redact' }] }, { name: 'fast' });
    const b = compileProfile({ fhirPathRules: [{ path: `${path}.where(true)`, method: 'redact' }] }, { name: 'fhirpath' });
    for (const input of inputs) {
      const x = JSON.stringify(a.apply(input).resource);
      const y = JSON.stringify(b.apply(input).resource);
      if (x !== y) t.fail(`${path} differs between the index and FHIRPath`);
    }
    compared++;
  }
  t.ok(compared >= 40, `${compared} rule paths compared`);
});
