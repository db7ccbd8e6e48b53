/**
 * `darwaza store migrate --to postgres`: an appliance that ran on SQLite (real gateway, real
 * messages left queued while the receiver was down, a consent, an audit log) is moved to a real
 * PostgreSQL; a gateway started on the moved state delivers what was queued (the receiver opens
 * every envelope: ciphertexts and data keys moved intact), decides on the moved consent, and
 * `audit verify --config` verifies the closed SQLite log, the shared log and the link between them.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { command as store } from '../../src/cli/commands/store.js';
import { command as audit } from '../../src/cli/commands/audit.js';
import { startGateway } from '../../src/gateway/index.js';
import { loadConfig } from '../../src/config/index.js';
import { runCommand } from '../helpers/cli.js';
import { startPostgres } from '../helpers/postgres.js';
import { memoryLogger } from '../helpers/gateway.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';
import { freePort, waitFor } from '../helpers/net.js';
import { makeAppliance } from '../ops/fixture.js';
import { filesUnder } from '../helpers/phi.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const server = await startPostgres(t);

async function post(port: number, path: string, body: unknown) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as any };
}

t.test('an appliance moved to PostgreSQL: queue, consents, keys and audit log, verified and working', async (t) => {
  const url = await server.newDatabase();
  const a = await makeAppliance(t.testdir());
  // The appliance runs on SQLite with its receiver down: what it accepts stays queued.
  const gw = await startGateway(loadConfig(a.configFile), { logger: memoryLogger().logger, simulator: false });
  t.equal((await post(gw.lanPort, '/fhir/Patient', patientFor('mig-1'))).status, 202);
  t.equal((await post(gw.lanPort, '/fhir/Consent', consentFor('mig-1'))).status, 201);
  const queued: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await post(gw.lanPort, '/fhir/Observation', observation('mig-1', i));
    t.equal(r.body.destinations?.[0]?.decision, 'queued');
    queued.push(r.body.id);
  }
  await gw.stop();

  const moved = await runCommand(store, ['migrate', '--to', 'postgres', '--url', url, '--config', a.configFile], { cwd: a.dir });
  t.equal(moved.code, 0, moved.text());
  t.match(moved.text(), /queue: \d+ messages, \d+ rows/);
  t.match(moved.text(), /audit log: \d+ entries closed under the signed head [0-9a-f]{16}/);
  const again = await runCommand(store, ['migrate', '--to', 'postgres', '--url', url, '--config', a.configFile], { cwd: a.dir });
  t.equal(again.code, 0, again.text());
  t.match(again.text(), /audit log: already continued/, 'a second run changes nothing');

  // The config now names PostgreSQL; a gateway on the moved state, with its receiver up.
  const raw = JSON.parse(readFileSync(a.configFile, 'utf8'));
  raw.store = { kind: 'postgres', url, nodeId: 'gw-a' };
  writeFileSync(a.configFile, JSON.stringify(raw, null, 2));
  const config = loadConfig(a.configFile);
  const sim = await startRecordingSimulator(config.certsDir, a.ports.sim);
  const onPg = await startGateway(config, { logger: memoryLogger().logger, simulator: false });
  t.teardown(async () => {
    await onPg.stop();
    await sim.stop();
  });
  await waitFor(() => queued.every((id) => sim.opened.has(id)) || undefined, { timeoutMs: 60_000, what: 'the moved queue delivered' });
  t.ok(queued.every((id) => JSON.parse(sim.opened.get(id)!.payload).resourceType === 'Observation'), 'every moved message delivered and opened by the receiver');
  const after = await post(onPg.lanPort, '/fhir/Observation', observation('mig-1', 99));
  t.equal(after.body.destinations?.[0]?.decision, 'queued', 'the moved consent permits on PostgreSQL');
  await onPg.stop();

  const verified = await runCommand(audit, ['verify', '--config', a.configFile, '--json'], { cwd: a.dir });
  t.equal(verified.code, 0, verified.text());
  const verdict = JSON.parse(verified.out.join('\n'));
  t.match(verdict, { ok: true, priorSegments: { segments: 1 } }, 'the closed SQLite log, the shared log and the link between them verify');
  t.ok(verdict.priorSegments.entries > 5, `the SQLite log's entries are kept (${verdict.priorSegments.entries})`);

  // An altered earlier log is named (the triggers refuse UPDATE: a superuser turns them off first).
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('ALTER TABLE audit_prior_segment_files DISABLE TRIGGER USER');
    await client.query(`UPDATE audit_prior_segment_files SET content = convert_to(replace(convert_from(content, 'UTF8'), '"decided"', '"deleted"'), 'UTF8') WHERE name = 'entries.ndjson'`);
  } finally {
    await client.end();
  }
  // Moved, still sealed: no file of the cluster (tables, WAL) holds the narrative or the patient id.
  const c2 = new pg.Client({ connectionString: url });
  await c2.connect();
  await c2.query('CHECKPOINT');
  await c2.end();
  const hits = filesUnder(server.dir).filter((f) => ['Routine observation round', 'mig-1'].some((c) => readFileSync(f).includes(c)));
  t.same(hits, [], 'no PHI in the cluster after the move');

  const tampered = await runCommand(audit, ['verify', '--config', a.configFile, '--json'], { cwd: a.dir });
  t.equal(tampered.code, 1);
  t.match(JSON.parse(tampered.out.join('\n')).reason, /the earlier sqlite log this one continues does not verify/);
});

t.test('a wrong URL fails with one clear line, and never prints the password', async (t) => {
  const a = await makeAppliance(t.testdir());
  const r = await runCommand(store, ['migrate', '--to', 'postgres', '--url', `postgres://darwaza:s3cret@127.0.0.1:${await freePort()}/darwaza`, '--config', a.configFile], { cwd: a.dir });
  t.equal(r.code, 3);
  t.match(r.text(), /PostgreSQL at postgres:\/\/darwaza@127\.0\.0\.1:\d+\/darwaza cannot be reached \(ECONNREFUSED\)/);
  t.notMatch(r.text(), /s3cret/);
});
