// Operating a pair from its config: `darwaza doctor` checks the shared PostgreSQL (reachable, durable, a
// synchronous standby or a warning, the shared audit log verified), never printing the URL's password;
// `darwaza audit verify --config` and the gateway's scheduled verification verify the shared log.
import t from 'tap';
import { join } from 'node:path';
import { command as doctor } from '../../src/cli/commands/doctor.js';
import { runCommand } from '../helpers/cli.js';
import { startPostgres } from '../helpers/postgres.js';
import { freePort } from '../helpers/net.js';
import { makeAppliance } from './fixture.js';
import { command as audit } from '../../src/cli/commands/audit.js';
import { verifyInChild } from '../../src/ops/index.js';
import { CLI } from '../helpers/processes.js';

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

t.test('audit verify --config and the scheduled verification in a child process read the shared log the config names', async (t) => {
  const url = await server.newDatabase();
  const a = await makeAppliance(t.testdir(), (c) => (c.store = { kind: 'postgres', url, nodeId: 'gw-a' }));
  const r = await runCommand(audit, ['verify', '--config', a.configFile, '--json'], { cwd: a.dir });
  t.equal(r.code, 0, r.text());
  const verdict = JSON.parse(r.out.join('\n')) as { ok: boolean; size: number };
  t.ok(verdict.ok && verdict.size > 0, `the shared log verifies (${verdict.size} entries)`);
  const child = await verifyInChild({ dataDir: join(a.dir, 'data'), certsDir: join(a.dir, 'certs'), sharedConfigFile: a.configFile, exec: [process.execPath, CLI] });
  t.match(child, { ok: true, size: verdict.size }, 'the scheduled verification (the real binary) reads the same log');

  // The other read-only subcommands follow the config to the shared log too.
  const prove = await runCommand(audit, ['prove', '0', '--config', a.configFile], { cwd: a.dir });
  t.equal(prove.code, 0, prove.text());
  t.match(JSON.parse(prove.out.join('\n')), { leafIndex: 0, treeSize: verdict.size, signedHead: { treeSize: verdict.size } }, 'prove: an inclusion proof under the shared log\'s head');
  const breach = await runCommand(audit, ['breach-report', '--since', '2000-01-01T00:00:00Z', '--until', '2100-01-01T00:00:00Z', '--events', 'policy-activated', '--json', '--config', a.configFile], { cwd: a.dir });
  t.equal(breach.code, 0, breach.text());
  t.ok(JSON.parse(breach.out.join('\n')).entries >= 1, 'breach-report reads the shared log');
  const review = await runCommand(audit, ['break-glass', '--json', '--config', a.configFile], { cwd: a.dir });
  t.match(JSON.parse(review.out.join('\n')), { uses: 0 }, 'break-glass reads the shared log');
  const disclosed = await runCommand(audit, ['disclosures', '--patient', '35202-1234567-1', '--json', '--config', a.configFile], { cwd: a.dir });
  t.equal(disclosed.code, 0, disclosed.text());
  t.match(JSON.parse(disclosed.out.join('\n')), { entries: [] }, 'disclosures reads the shared log');
});
