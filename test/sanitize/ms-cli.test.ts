/**
 * Microsoft's anonymizer configurations, as a privacy officer has them, through the real
 * CLI (`node dist/darwaza.cjs sanitize --profile CONFIG INPUT`, a child process): all 26
 * functional cases reproduce Microsoft's expected output with the configuration files
 * untouched (their bytes are checked before and after). Literal keys in a configuration
 * are used, with a warning on stderr that the gateway will not accept them; keys given on
 * the command line override them. The gateway's loader still refuses them.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, REPO } from '../helpers/processes.js';
import { MS_CASES, canon, configurationPath, readCaseJson, resourcePath } from '../fixtures/ms-anonymizer/cases.js';
import { loadProfiles } from '../../src/sanitize/index.js';

// 28 CLI processes, each ~1 s of CPU to start: on a loaded machine the file may outlast tap's per-file timeout.
t.setTimeout(900_000);

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const WARNING = /^warning: profile \S+ holds literal keys \(([^)]*)\), (used for this run|ignored: [^.]*)\. The gateway will not accept this profile as it is/m;

t.test('all 26 cases through the real CLI, configurations untouched', async (t) => {
  t.equal(MS_CASES.length, 26);
  for (const [i, c] of MS_CASES.entries()) {
    const config = configurationPath(c);
    const before = sha(config);
    const r = runCli(['sanitize', '--profile', config, '--compact', resourcePath(c.input)], { cwd: REPO });
    const literal = Object.entries(readCaseJson(config).parameters ?? {}).filter(([k, v]) => /Key$/.test(k) && typeof v === 'string' && v !== '');
    const label = `case ${i + 1}: ${c.name} (${c.configuration})`;
    if (c.expected === 'error') {
      t.equal(r.code, 1, `${label}: a processing error exits 1`);
      t.equal(r.stdout, '', `${label}: and prints no resource`);
    } else {
      t.equal(r.code, 0, `${label}: ${r.stderr}`);
      t.same(canon(JSON.parse(r.stdout)), canon(readCaseJson(resourcePath(c.expected))), `${label}: Microsoft's expected output`);
    }
    if (literal.length) {
      const m = WARNING.exec(r.stderr);
      t.ok(m, `${label}: warns that the gateway will not accept its literal keys`);
      t.equal(m?.[1], literal.map(([k]) => `parameters.${k}`).join(', '), `${label}: naming them`);
      for (const [, v] of literal) t.notOk(r.stderr.includes(String(v)), `${label}: without printing the key`);
    } else {
      t.notMatch(r.stderr, /literal keys/, `${label}: no warning without literal keys`);
    }
    t.equal(sha(config), before, `${label}: the configuration is untouched`);
  }
});

t.test('keys on the command line override a configuration\'s literal keys, and it says so', async (t) => {
  const dir = t.testdir({ 'keys.json': JSON.stringify({ cryptoHashKey: 'officer-key', dateShiftKey: 'officer-key' }) });
  const config = join(REPO, 'test/fixtures/ms-anonymizer/configurations/common-config.json');
  const input = resourcePath('patient-basic.json');
  const withLiteral = runCli(['sanitize', '--profile', config, '--compact', input], { cwd: REPO });
  const withGiven = runCli(['sanitize', '--profile', config, '--keys', join(dir, 'keys.json'), '--compact', input], { cwd: REPO });
  t.equal(withGiven.code, 0, withGiven.stderr);
  t.match(withGiven.stderr, /ignored: the keys given with --keys are used instead/);
  t.not(withGiven.stdout, withLiteral.stdout, 'the given keys made other pseudonyms');
});

t.test('the gateway still refuses a profile that holds keys', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'ms.json'), readFileSync(join(REPO, 'test/fixtures/ms-anonymizer/configurations/common-config.json')));
  await t.rejects(loadProfiles(dir), /parameters\.\w+Key holds a literal key; keys come from the key store/);
});
