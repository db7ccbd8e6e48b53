/**
 * The single binary, copied alone into an empty folder: --version, init, upstream-sim
 * and start as two processes, one post delivered. Built by `npm run build:binary`
 * (CI builds it first); skipped with a note only when it has not been built.
 */
import t from 'tap';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, prepareDir, runCli, startGatewayProcess, startSimulatorProcess, waitDelivered } from '../helpers/processes.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const BUILT = join(REPO, 'dist/darwaza');

t.test('the binary alone in an empty folder runs the whole path', { skip: existsSync(BUILT) ? false : 'dist/darwaza not built: run `npm run build:binary` (CI does)' }, async (t) => {
  const dir = t.testdir();
  const bin = join(dir, 'darwaza');
  copyFileSync(BUILT, bin);
  const env = { DARWAZA_CACHE_DIR: join(dir, '.cache') };
  const v = runCli(['--version'], { bin, cwd: dir, env });
  t.equal(v.code, 0);
  t.equal(v.stdout.split('\n')[0], JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
  t.match(v.stdout, /^schema \d+$/m, 'and the database schema version');

  const { ports } = await prepareDir(dir, () => {}, bin);
  t.ok(existsSync(join(dir, 'policies')), 'init wrote the embedded policy pack');
  const sim = await startSimulatorProcess(dir, ports.sim, { bin, extraArgs: ['--certs', join(dir, 'certs')] });
  const gw = await startGatewayProcess(dir, { bin, env });
  t.teardown(async () => {
    await gw.kill();
    await sim.kill();
  });
  const fhir = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
  // The Patient first, so the gateway knows the age (an unknown age is read as a minor's).
  t.equal((await fetch(`http://127.0.0.1:${ports.lan}/fhir/Patient`, { method: 'POST', headers: fhir, body: JSON.stringify(patientFor('p-bin')) })).status, 202);
  t.equal((await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, { method: 'POST', headers: fhir, body: JSON.stringify(consentFor('p-bin')) })).status, 201);
  const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, { method: 'POST', headers: fhir, body: JSON.stringify(observation('p-bin')) });
  t.equal(r.status, 202);
  const id = ((await r.json()) as { id: string }).id;
  await waitDelivered(ports.lan, id);
  const got = (await (await fetch(`http://127.0.0.1:${ports.sim}/_sim/received`)).json()) as { ids: string[] };
  t.same(got.ids, [id]);
  // The R4 definitions are embedded: structure validation works without node_modules.
  const bad = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, { method: 'POST', headers: fhir, body: JSON.stringify({ ...observation('p-bin'), hospitalPatientName: 'x' }) });
  t.equal(bad.status, 422, 'an element outside FHIR R4 is refused inside the binary');
  t.match(await bad.text(), /Observation\.hospitalPatientName/);
});
