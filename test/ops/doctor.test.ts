import t from 'tap';
import { chmodSync, closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { command as doctor } from '../../src/cli/commands/doctor.js';
import { initCa, issueCertificate } from '../../src/pki/index.js';
import { generateSigningKey, loadPolicy, signPack } from '../../src/policy/index.js';
import { startSimulator } from '../../src/sim/index.js';
import { runCommand } from '../helpers/cli.js';
import { copyAppliance, makeAppliance, type Appliance } from './fixture.js';

interface Report {
  ok: boolean;
  findings: Array<{ check: string; status: string; message: string; fix?: string }>;
}

async function runDoctor(a: Appliance, extra: string[] = []) {
  const r = await runCommand(doctor, ['--config', a.configFile, '--json', ...extra], { cwd: a.dir });
  return { code: r.code, report: JSON.parse(r.out.join('\n')) as Report };
}
const failures = (r: Report) => r.findings.filter((f) => f.status === 'fail');
const LOCAL = ['--only', 'permissions,keys,certificates,policy,database'];

let base: Appliance;
t.before(async () => {
  base = await makeAppliance(t.testdir());
});

t.test('a healthy appliance passes every check, uplink and clock included', async (t) => {
  const a = copyAppliance(base, join(t.testdir(), 'a'));
  const sim = await startSimulator({ host: '127.0.0.1', port: a.ports.sim });
  t.teardown(() => sim.stop());
  const { code, report } = await runDoctor(a);
  t.same(failures(report), [], 'nothing failed');
  t.equal(code, 0);
  const checks = new Set(report.findings.map((f) => f.check));
  for (const c of ['permissions', 'ports', 'disk', 'quota', 'keys', 'policy', 'database', 'audit', 'uplink', 'clock']) t.ok(checks.has(c), `${c} was checked`);
  t.match(report.findings.find((f) => f.check === 'clock'), { status: 'ok', message: /this clock is/ }, 'skew measured against the uplink Date header');
  t.match(report.findings.find((f) => f.check === 'audit'), { status: 'ok', message: /the audit log verifies: \d+ entries/ });
  for (const f of report.findings.filter((f) => f.status === 'warn' || f.status === 'fail')) t.ok(f.fix, `${f.check} names its fix`);
});

t.test('an unreachable uplink fails, and clock skew is skipped with a note', async (t) => {
  const a = copyAppliance(base, join(t.testdir(), 'a'));
  const { code, report } = await runDoctor(a, ['--only', 'uplink', '--timeout-ms', '3000']);
  t.equal(code, 1);
  t.match(failures(report), [{ check: 'uplink', message: /not reachable/, fix: /network/ }]);
  t.match(report.findings.find((f) => f.check === 'clock'), { status: 'skip', message: /not measured/ });
});

t.test('wrong permissions: a world-readable key and an open data folder', async (t) => {
  const a = copyAppliance(base, join(t.testdir(), 'a'));
  chmodSync(join(a.dir, 'certs', 'token.key'), 0o644);
  chmodSync(join(a.dir, 'data'), 0o755);
  const { code, report } = await runDoctor(a, LOCAL);
  t.equal(code, 1);
  const bad = failures(report).filter((f) => f.check === 'permissions');
  t.match(bad, [
    { message: /data folder .*data is mode 755/, fix: /chmod 700 .*data$/ },
    { message: /secret .*token\.key is mode 644: other users can read it/, fix: /chmod 600 .*token\.key$/ },
  ]);
  t.equal(statSync(join(a.dir, 'certs', 'token.key')).mode & 0o777, 0o644, 'doctor changed nothing');
});

t.test('an expired certificate (issued by the PKI with its clock moved back)', async (t) => {
  const a = copyAppliance(base, join(t.testdir(), 'a'));
  const certs = join(a.dir, 'certs');
  initCa(certs);
  issueCertificate(certs, 'old-lab', { now: new Date(Date.now() - 400 * 86_400_000), days: 1 });
  issueCertificate(certs, 'new-lab', { days: 10 });
  const { code, report } = await runDoctor(a, LOCAL);
  t.equal(code, 1);
  t.match(failures(report), [{ check: 'certificates', message: /client certificate old-lab .*expired on/, fix: /darwaza certs issue old-lab --renew/ }]);
  t.ok(report.findings.some((f) => f.check === 'certificates' && f.status === 'warn' && /new-lab expires in \d days/.test(f.message)), 'one close to expiry is a warning');
});

t.test('a tampered policy pack: signed and trusted, then one byte of a rule changed', async (t) => {
  const key = await generateSigningKey();
  const a = copyAppliance(base, join(t.testdir(), 'a'));
  const file = join(a.dir, 'policies', 'pk', 'pk.policy.yaml');
  writeFileSync(`${file}.sig`, JSON.stringify(await signPack((await loadPolicy(file)).pack!, key)));
  const config = JSON.parse(readFileSync(a.configFile, 'utf8'));
  config.policy.trustedSigners = [key.publicKey];
  config.policy.requireSigned = true;
  writeFileSync(a.configFile, JSON.stringify(config));
  const before = await runDoctor(a, ['--only', 'policy']);
  t.match(before.report.findings, [{ check: 'policy', status: 'ok', message: new RegExp(`signed by trusted key ${key.keyId}`) }], 'signed and untouched: ok');
  writeFileSync(file, readFileSync(file, 'utf8').replace('Data that identifies a patient', 'Data that names a patient'));
  const { code, report } = await runDoctor(a, ['--only', 'policy']);
  t.equal(code, 1);
  t.match(failures(report), [{ check: 'policy', message: /refused: .*changed after it was signed/, fix: /signed/ }]);
});

t.test('a corrupted database page (garbage written into a copy of the SQLite file)', async (t) => {
  const a = copyAppliance(base, join(t.testdir(), 'a'));
  const file = join(a.dir, 'data', 'darwaza.db');
  const header = readFileSync(file).subarray(0, 100);
  const pageSize = header.readUInt16BE(16) === 1 ? 65536 : header.readUInt16BE(16);
  const pages = statSync(file).size / pageSize;
  t.ok(pages >= 4, `the database has ${pages} pages`);
  const fd = openSync(file, 'r+');
  // A page in the middle: not the header page, so the file still opens and the damage is found by the check.
  writeSync(fd, randomBytes(pageSize), 0, pageSize, Math.floor(pages / 2) * pageSize);
  closeSync(fd);
  const { code, report } = await runDoctor(a, ['--only', 'database']);
  t.equal(code, 1);
  t.match(failures(report), [{ check: 'database', message: /damage|damaged/, fix: /darwaza restore/ }]);
});

t.test('a port held by another program fails; text output names each fix', async (t) => {
  const a = copyAppliance(base, join(t.testdir(), 'a'));
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(a.ports.lan, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => s.close(() => r())));
  const r = await runCommand(doctor, ['--config', a.configFile, '--only', 'ports'], { cwd: a.dir });
  t.equal(r.code, 1);
  t.match(r.out.join('\n'), new RegExp(`FAIL  ports +LAN API 127.0.0.1:${a.ports.lan} is in use by another program\\n +fix: stop that program`));
  t.match(r.out.at(-1), /1 failed/);
});
