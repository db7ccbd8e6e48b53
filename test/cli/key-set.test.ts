/**
 * The key set is made whole by whichever command makes keys first. Reproduces, with the
 * real CLI (dist/darwaza.cjs) in a folder laid out like a fresh clone (config + policy
 * pack, no certs/ or data/): `keys recipient foo`, then `start`, then `init`.
 */
import t from 'tap';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runCli, spawnUntil } from '../helpers/processes.js';
import { freePort } from '../helpers/net.js';

async function freshClone(dir: string) {
  cpSync(join(REPO, 'policies'), join(dir, 'policies'), { recursive: true });
  const config = JSON.parse(readFileSync(join(REPO, 'gateway.config.json'), 'utf8'));
  const ports = { lan: await freePort(), admin: await freePort(), mllp: await freePort(), sim: await freePort() };
  config.listen = { lan: `127.0.0.1:${ports.lan}`, admin: `127.0.0.1:${ports.admin}`, mllp: `127.0.0.1:${ports.mllp}` };
  config.simulator = { embedded: true, listen: `127.0.0.1:${ports.sim}` };
  for (const d of config.destinations) d.url = d.url.replace('127.0.0.1:9443', `127.0.0.1:${ports.sim}`);
  writeFileSync(join(dir, 'gateway.config.json'), JSON.stringify(config, null, 2));
  return ports;
}

const listing = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

t.test('keys recipient makes the whole set; start then runs; init makes what is missing and says so', async (t) => {
  const dir = t.testdir();
  const ports = await freshClone(dir);

  const k = runCli(['keys', 'recipient', 'foo'], { cwd: dir });
  t.equal(k.code, 0, k.stderr);
  t.match(JSON.parse(k.stdout), { destination: 'foo', recipientPublicKey: String });
  for (const f of ['signing-keys.json', 'token.key', 'kek.key', 'recipient-foo.key', 'recipient-national-telemed.key']) {
    t.ok(existsSync(join(dir, 'certs', f)), `keys made certs/${f}`);
  }
  t.equal(statSync(join(dir, 'certs', 'kek.key')).mode & 0o777, 0o600);
  t.match(k.stderr, /created kek\.key .*\(key-encryption key\)/, 'what was made is listed');

  // A half-made set (as older versions left it): start and init both complete it.
  rmSync(join(dir, 'certs', 'kek.key'));
  const gw = await spawnUntil(['start'], { cwd: dir, ready: /darwaza listening/ });
  t.teardown(() => gw.kill('SIGKILL'));
  t.match(gw.output(), /created .*certs\/kek\.key \(key-encryption key\)/);
  const health = await fetch(`http://127.0.0.1:${ports.admin}/healthz`);
  t.equal(health.status, 200);
  t.equal(await gw.kill('SIGTERM'), 0, 'a clean stop');

  rmSync(join(dir, 'certs', 'kek.key'));
  const i = runCli(['init'], { cwd: dir });
  t.equal(i.code, 0, i.stderr);
  t.notMatch(i.stdout, /nothing changed/);
  t.match(i.stdout, /created certs\/kek\.key \(key-encryption key\)/);
  t.ok(existsSync(join(dir, 'certs', 'kek.key')));

  const before = listing(dir);
  const again = runCli(['init'], { cwd: dir });
  t.match(again.stdout, /already has everything; nothing changed/);
  t.same(listing(dir), before, 'and indeed nothing changed');
});

t.test('init in an empty folder lists each key file it makes', async (t) => {
  const dir = t.testdir();
  const r = runCli(['init', '--dir', dir]);
  t.equal(r.code, 0, r.stderr);
  for (const what of ['gateway signing key', 'patient-token key', 'key-encryption key', 'demo recipient secret key for national-telemed']) {
    t.match(r.stdout, new RegExp(`created certs/\\S+ \\(${what}\\)`), what);
  }
});
