import t from 'tap';
import { join } from 'node:path';
import { command as patient } from '../../src/cli/commands/patient.js';
import { loadConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/index.js';
import { silentLogger } from '../../src/log/index.js';
import { openDatabase } from '../../src/store/index.js';
import { runDoctor } from '../../src/ops/index.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { runCommand } from '../helpers/cli.js';
import { makeAppliance } from './fixture.js';

t.test('patient erase: queued payloads go, one audit entry records it, and what could not be erased is named', async (t) => {
  const a = await makeAppliance(t.testdir(), (c) => {
    // No uplink: everything stays queued.
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 60_000, maxDelayMs: 600_000, maxAgeMs: 3_600_000 };
  });
  const g = await startGateway(loadConfig(a.configFile), { logger: silentLogger, simulator: false });
  const post = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${g.lanPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body: JSON.stringify(body) });
  const ids: Record<string, string> = {};
  for (const p of ['p-erase', 'p-keep']) {
    t.equal((await post('/fhir/Patient', patientFor(p))).status, 202, 'registered first: its age is known');
    t.equal((await post('/fhir/Consent', consentFor(p))).status, 201);
    const r = await post('/fhir/Observation', observation(p, 1));
    t.equal(r.status, 202);
    ids[p] = ((await r.json()) as { id: string }).id;
  }
  await g.stop();

  const r = await runCommand(patient, ['erase', '--patient', 'p-erase', '--reason', 'privacy office ticket', '--config', a.configFile, '--actor', 'privacy-officer', '--json'], { cwd: a.dir });
  t.equal(r.code, 0, r.text());
  const result = JSON.parse(r.out.join('\n'));
  t.equal(result.queueRowsWithdrawn, 1);
  t.match(result.notErased, [{ what: 'the audit log', why: /pseudonymous token/ }, { what: '1 consent record', why: /legal hold/ }, { what: 'backups taken before now', why: /expire/ }]);
  t.notMatch(r.text(), /p-erase/, 'the identifier is not printed');

  const db = openDatabase(join(a.dir, 'data', 'darwaza.db'), { readonly: true });
  const row = (id: string) => db.prepare('SELECT state, payload FROM queue_items WHERE message_id = ?').get(id) as { state: string; payload: Buffer | null };
  t.match(row(ids['p-erase']!), { state: 'withdrawn', payload: null }, "the patient's queued payload is gone");
  t.equal(row(ids['p-keep']!).state, 'ready', "another patient's message is untouched");
  const entry = db.prepare("SELECT entry FROM audit_entries WHERE event = 'purged' ORDER BY idx DESC LIMIT 1").pluck().get() as string;
  db.close();
  t.match(JSON.parse(entry), { event: 'purged', patientToken: result.patientToken, actor: 'privacy-officer', reason: /^erasure on request \(privacy office ticket\): 1 queued or dead payloads withdrawn/ });

  const doctor = await runDoctor({ config: loadConfig(a.configFile), dataDir: join(a.dir, 'data'), certsDir: join(a.dir, 'certs'), env: {}, now: () => new Date(), timeoutMs: 1000 }, ['database']);
  t.match(doctor, [{ check: 'database', status: 'ok' }, { check: 'audit', status: 'ok' }], 'the audit log still verifies');
});
