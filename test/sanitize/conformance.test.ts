/**
 * A peer's test suite: the 26 functional cases of Microsoft's FHIR anonymizer
 * (configuration + input → expected output, or an expected processing error),
 * run against our engine. Compared as FHIR JSON: object key order ignored,
 * array order kept.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProfile, SanitizeError } from '../../src/sanitize/index.js';

const dir = join(process.cwd(), 'test', 'fixtures', 'ms-anonymizer');
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8').replace(/^\uFEFF/, ''));
const cases = readJson(join(dir, 'cases.json')).cases as Array<{ name: string; configuration: string; input: string; expected: string }>;

/** Sorts object keys recursively so deepEqual ignores key order but keeps array order. */
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
  }
  return v;
}

t.test('all 26 Microsoft conformance cases are present', async (t) => {
  t.equal(cases.length, 26);
});

cases.forEach((c, i) => {
  t.test(`MS case ${i + 1}: ${c.name} (${c.configuration} on ${c.input})`, async (t) => {
    const config = readJson(join(dir, 'configurations', c.configuration));
    const input = readJson(join(dir, 'resources', c.input));
    const before = JSON.stringify(input);
    const profile = compileProfile(config, { name: c.configuration, allowLiteralKeys: true });
    if (c.expected === 'error') {
      t.throws(() => profile.apply(input), SanitizeError, 'a processing error is raised');
    } else {
      const expected = readJson(join(dir, 'resources', c.expected));
      const { resource } = profile.apply(input);
      t.same(canon(resource), canon(expected));
    }
    t.equal(JSON.stringify(input), before, 'the input is not mutated');
  });
});
