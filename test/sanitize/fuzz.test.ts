/**
 * Bad input gets a clear error, never a crash: Synthea and Pakistani resources mutated at
 * random (values swapped for other JSON types, nulls, arrays, unknown keys, deep nesting)
 * go through both shipped profiles. apply must either return a resource or throw
 * InvalidInputError / SanitizeError — never a TypeError — and never mutate its input.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, loadProfiles, SanitizeError } from '../../src/sanitize/index.js';
import type { FhirResource } from '../../src/model/index.js';

function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const REPLACEMENTS: unknown[] = [null, 0, -1.5, true, '', 'x', [], [null], {}, { resourceType: 'Patient' }, [1, 'a', {}], '2020-13-45', '35202-1234567-1', { a: { b: { c: [] } } }];

function mutate(value: unknown, rnd: () => number, depth = 0): unknown {
  if (Array.isArray(value)) return value.map((v) => (rnd() < 0.1 ? REPLACEMENTS[Math.floor(rnd() * REPLACEMENTS.length)] : mutate(v, rnd, depth + 1)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'resourceType' && depth === 0) {
        out[k] = v;
        continue;
      }
      const r = rnd();
      if (r < 0.05) continue; // drop the key
      out[k] = r < 0.12 ? REPLACEMENTS[Math.floor(rnd() * REPLACEMENTS.length)] : mutate(v, rnd, depth + 1);
      if (rnd() < 0.02) out[`_${k}`] = REPLACEMENTS[Math.floor(rnd() * REPLACEMENTS.length)];
      if (rnd() < 0.02) out[`unknown${k}`] = 'free text 0300-1234567';
    }
    return out;
  }
  return value;
}

t.test('mutated resources never crash apply and are never mutated', async (t) => {
  const profiles = await loadProfiles(join(process.cwd(), 'policies', 'profiles'));
  const bound = [...profiles.values()].map((p) => p.withKeys({ cryptoHashKey: 'fuzz' }));
  const synthea = JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'synthea-r4', 'Todd315_Stamm704_0ce18c7d-fd78-46d9-81b5-8bed231c337a.json'), 'utf8'));
  const pk = JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'pk-patients', 'zulfiqar-bundle.json'), 'utf8'));
  const seeds: FhirResource[] = [...synthea.entry.slice(0, 60).map((e: { resource: FhirResource }) => e.resource), ...pk.entry.map((e: { resource: FhirResource }) => e.resource), pk];
  const rnd = prng(20261126);
  let ok = 0;
  let refused = 0;
  const crashes: string[] = [];
  const messages = new Set<string>();
  for (let round = 0; round < 12; round++) {
    for (const seed of seeds) {
      const input = mutate(seed, rnd) as FhirResource;
      const before = JSON.stringify(input);
      for (const p of bound) {
        try {
          const r = p.apply(input);
          JSON.stringify(r.resource);
          ok++;
        } catch (err) {
          if (err instanceof InvalidInputError || err instanceof SanitizeError) {
            refused++;
            if (/35202|0300|free text/.test((err as Error).message)) crashes.push(`a value in an error message: ${(err as Error).message}`);
            messages.add((err as Error).message.replace(/\[\d+\]/g, '[i]'));
          }
          else crashes.push(`${p.name} on ${seed.resourceType}: ${(err as Error).name}: ${(err as Error).message}`);
        }
      }
      if (JSON.stringify(input) !== before) crashes.push(`input mutated (${seed.resourceType})`);
    }
  }
  t.same(crashes.slice(0, 10), [], 'no crash, no mutation');
  t.ok(ok > 300, `${ok} mutated inputs de-identified, ${refused} refused with a clear error`);
  t.ok([...messages].every((m) => /^(element |input is not a FHIR resource|rule \d+)/.test(m)), 'refusals name the element or rule');
  t.comment([...messages].slice(0, 5).join('\n'));
});
