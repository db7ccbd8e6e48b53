// `darwaza doctor` on a pair's config: the shared PostgreSQL checked (reachable, durable, a synchronous
// standby or a warning, the shared audit log verified), never printing the URL's password.
import t from 'tap';
import { command as doctor } from '../../src/cli/commands/doctor.js';
import { runCommand } from '../helpers/cli.js';
import { startPostgres } from '../helpers/postgres.js';
import { freePort } from '../helpers/net.js';
import { makeAppliance } from './fixture.js';

interface Report {
  findings: Array<{ check: string; status: string; message: string; fix?: string }>;
}
const server = await startPostgres(t);

async function runDoctor(configFile: string, dir: string) {
  const r = await runCommand(doctor, ['--config', configFile, '--json', '--only', 'shared-store', '--timeout-ms', '3000'], { cwd: dir });
  return { code: r.code, report: JSON.parse(r.out.join('\n')) as Report, text: r.text() };
}

t.test('a pair on a reachable server: ok, the missing standby warned about, the shared log verified', async (t) => {
  const url = await server.newDatabase();
  // A gateway ran on it once (makeAppliance starts and stops it), so the shared log has entries and a head.
  const a = await makeAppliance(t.testdir(), (c) => (c.store = { kind: 'postgres', url, nodeId: 'gw-a' }));
  const { code, report } = await runDoctor(a.configFile, a.dir);
  t.equal(code, 0, 'a warning does not fail the run');
  t.match(report.findings, [
    { check: 'shared-store', status: 'ok', message: /^PostgreSQL \d+.* answers$/ },
    { check: 'shared-store', status: 'warn', message: /no synchronous standby/, fix: /synchronous_standby_names/ },
    { check: 'audit', status: 'ok', message: /the shared audit log verifies: \d+ entries, [1-9]\d* signed tree heads/ },
  ]);
});

t.test('an unreachable server fails, naming the host and not the password', async (t) => {
  const url = await server.newDatabase();
  const a = await makeAppliance(t.testdir(), (c) => (c.store = { kind: 'postgres', url, nodeId: 'gw-a' }));
  const { readFileSync, writeFileSync } = await import('node:fs');
  const raw = JSON.parse(readFileSync(a.configFile, 'utf8'));
  raw.store.url = `postgres://darwaza:s3cret-pw@127.0.0.1:${await freePort()}/darwaza`;
  writeFileSync(a.configFile, JSON.stringify(raw));
  const { code, report, text } = await runDoctor(a.configFile, a.dir);
  t.equal(code, 1);
  t.match(report.findings, [{ check: 'shared-store', status: 'fail', message: /cannot be reached .*\(ECONNREFUSED\)/, fix: /pg_hba\.conf/ }]);
  t.match(text, /postgres:\/\/darwaza@127\.0\.0\.1:\d+\/darwaza/, 'the user, host and database are named');
  t.notMatch(text, /s3cret/, 'the password is not');
});

t.test('an appliance on SQLite skips the check', async (t) => {
  const a = await makeAppliance(t.testdir());
  const { report } = await runDoctor(a.configFile, a.dir);
  t.match(report.findings, [{ check: 'shared-store', status: 'skip' }]);
});
