/**
 * A peer's test suite: the 26 functional cases of Microsoft's FHIR anonymizer
 * (configuration + input → expected output, or an expected processing error),
 * run against our engine. Compared as FHIR JSON: object key order ignored,
 * array order kept.
 */
import t from 'tap';
import { compileProfile, SanitizeError } from '../../src/sanitize/index.js';
import { MS_CASES as cases, canon, configurationPath, readCaseJson as readJson, resourcePath } from '../fixtures/ms-anonymizer/cases.js';

t.test('all 26 Microsoft conformance cases are present', async (t) => {
  t.equal(cases.length, 26);
});

cases.forEach((c, i) => {
  t.test(`MS case ${i + 1}: ${c.name} (${c.configuration} on ${c.input})`, async (t) => {
    const config = readJson(configurationPath(c));
    const input = readJson(resourcePath(c.input));
    const before = JSON.stringify(input);
    const profile = compileProfile(config, { name: c.configuration, allowLiteralKeys: true });
    if (c.expected === 'error') {
      t.throws(() => profile.apply(input), SanitizeError, 'a processing error is raised');
    } else {
      const expected = readJson(resourcePath(c.expected));
      const { resource } = profile.apply(input);
      t.same(canon(resource), canon(expected));
    }
    t.equal(JSON.stringify(input), before, 'the input is not mutated');
  });
});
