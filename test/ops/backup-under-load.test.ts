/**
 * Acceptance: a backup taken by the real CLI while a real gateway process accepts messages
 * under load restores into another data folder; every message acknowledged before the backup
 * began is there, and `darwaza audit verify` passes on the restored folder.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliArgv, prepareDir, runCli, startGatewayProcess, startSimulatorProcess } from '../helpers/processes.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { openDatabase } from '../../src/store/index.js';
import { sleep, waitFor } from '../helpers/net.js';

function runCliAsync(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const [cmd, pre] = cliArgv();
  return new Promise((resolve) => {
    const p = spawn(cmd, [...pre, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.once('exit', (code) => resolve({ code, out }));
  });
}

t.test('backup under load → restore elsewhere: every acknowledged message is there, the audit log verifies', { timeout: 300_000 }, async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 20, maxDelayMs: 200, maxAgeMs: 3600000 };
  });
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());
  const gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());
  // The Patient first, so the gateway knows the age (an unknown age is read as a minor's).
  const registered = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientFor('p-backup')) });
  t.equal(registered.status, 202);
  const consent = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(consentFor('p-backup')) });
  t.equal(consent.status, 201);

  const acked: string[] = [];
  let refused = 0;
  let running = true;
  const senders = Array.from({ length: 6 }, async (_, s) => {
    for (let i = 0; running; i++) {
      const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' },
        body: JSON.stringify(observation('p-backup', s * 100_000 + i)),
      });
      if (r.status === 202) acked.push(((await r.json()) as { id: string }).id);
      else refused++;
    }
  });
  await waitFor(() => acked.length >= 30, { timeoutMs: 60_000, what: '30 acknowledged messages' });

  const passFile = join(dir, 'backup.pass');
  writeFileSync(passFile, 'correct horse battery staple\n', { mode: 0o600 });
  const before = [...acked];
  const backupFile = join(dir, 'appliance.dzb');
  const b = await runCliAsync(['backup', backupFile, '--config', join(dir, 'gateway.config.json'), '--passphrase-file', passFile], {});
  const during = acked.length - before.length;
  t.equal(b.code, 0, b.out);
  t.ok(during > 0, `load was real: ${during} messages acknowledged while the backup ran (${before.length} before)`);
  await sleep(200);
  running = false;
  await Promise.all(senders);
  t.equal(refused, 0, 'no message was refused');
  await gw.kill();

  const other = join(dir, 'other');
  const r = runCli(['restore', backupFile, '--data', join(other, 'data'), '--passphrase-file', passFile]);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.stdout, /audit log verified \(\d+ entries\)/);

  const db = openDatabase(join(other, 'data', 'darwaza.db'), { readonly: true });
  const has = db.prepare('SELECT 1 FROM queue_messages WHERE id = ?');
  const missing = before.filter((id) => !has.get(id));
  const after = acked.slice(before.length).filter((id) => has.get(id)).length;
  db.close();
  t.same(missing, [], `all ${before.length} messages acknowledged before the backup are in the restored database`);
  t.comment(`${before.length} acknowledged before the backup, ${during} during it (${after} of those made it into the snapshot)`);

  const v = runCli(['audit', 'verify', '--data-dir', join(other, 'data'), '--certs-dir', join(other, 'certs')]);
  t.equal(v.code, 0, v.stdout + v.stderr);
  t.match(v.stdout, /^VERIFIED: \d+ entries/);
});
