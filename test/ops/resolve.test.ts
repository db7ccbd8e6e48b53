import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { command as audit } from '../../src/cli/commands/audit.js';
import { loadConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/index.js';
import { silentLogger } from '../../src/log/index.js';
import { openDatabase } from '../../src/store/index.js';
import { consentFor, observation } from '../../bench/fixtures.js';
import { runCommand } from '../helpers/cli.js';
import { makeAppliance } from './fixture.js';

t.test('audit resolve: breach-report tokens back to identifiers, on the appliance, one audit entry per lookup', async (t) => {
  const a = await makeAppliance(t.testdir(), (c) => {
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 60_000, maxDelayMs: 600_000, maxAgeMs: 3_600_000 };
  });
  const since = new Date(Date.now() - 60_000).toISOString();
  const g = await startGateway(loadConfig(a.configFile), { logger: silentLogger, simulator: false });
  const post = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${g.lanPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
  t.equal((await post('/fhir/Consent', consentFor('p-breach'))).status, 201);
  t.equal((await post('/fhir/Observation', observation('p-breach', 1))).status, 202);
  t.equal((await post('/fhir/Observation', observation('p-other', 2))).status, 202);
  await g.stop();
  const until = new Date(Date.now() + 60_000).toISOString();

  const report = await runCommand(audit, ['breach-report', '--since', since, '--until', until, '--events', 'queued,decided', '--json', '--config', a.configFile], { cwd: a.dir });
  t.equal(report.code, 0, report.text());
  const tokens = (JSON.parse(report.out.join('\n')) as { patients: string[] }).patients;
  t.equal(tokens.length, 2, 'two patients in the window, by token');
  t.notMatch(report.text(), /p-breach|p-other/, 'the report holds tokens only');

  const candidates = join(a.dir, 'candidates.txt');
  writeFileSync(candidates, 'Patient/p-nobody\nPatient/p-other\n', { mode: 0o600 });
  const r = await runCommand(audit, ['resolve', ...tokens, '--candidates', candidates, '--actor', 'auditor-1', '--json', '--config', a.configFile], { cwd: a.dir });
  t.equal(r.code, 0, r.text());
  const resolved = JSON.parse(r.out.join('\n')) as Array<{ token: string; identifiers: Array<{ value: string; from: string }> }>;
  const all = resolved.flatMap((x) => x.identifiers);
  t.ok(all.some((i) => i.value === 'Patient/p-breach' && i.from === 'consent'), 'resolved through the consent the registry holds');
  t.ok(all.some((i) => i.value === 'Patient/p-other' && i.from === 'candidates'), "resolved from the hospital's patient index");
  t.notOk(all.some((i) => i.value === 'Patient/p-nobody'));

  // An identifier typed where a token belongs is refused before anything is opened or logged.
  const typo = await runCommand(audit, ['resolve', 'Patient/p-breach', '--config', a.configFile], { cwd: a.dir });
  t.equal(typo.code, 3, 'not a token: bad input');
  t.match(typo.text(), /takes patient tokens/);
  t.notMatch(typo.text(), /p-breach/, 'the refusal does not echo what was typed');

  const db = openDatabase(join(a.dir, 'data', 'darwaza.db'), { readonly: true });
  const lookups = db.prepare("SELECT entry FROM audit_entries WHERE event = 'admin-action' AND entry LIKE '%breach notification%'").pluck().all() as string[];
  db.close();
  t.equal(lookups.length, 2, 'one audit entry per lookup');
  for (const e of lookups) {
    t.match(JSON.parse(e), { actor: 'auditor-1', patientToken: /./, reason: /resolved/ });
    t.notMatch(e, /p-breach|p-other/, 'the entry names the token, never the identifier');
  }
});
