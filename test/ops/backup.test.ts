import t from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { command as backup } from '../../src/cli/commands/backup.js';
import { command as restore } from '../../src/cli/commands/restore.js';
import { readBackupHeader } from '../../src/ops/index.js';
import { SCHEMA_VERSION } from '../../src/store/index.js';
import { runCommand } from '../helpers/cli.js';
import { makeAppliance, type Appliance } from './fixture.js';

const PASS = 'a passphrase of some length';
const env = { DARWAZA_BACKUP_PASSPHRASE: PASS };
let a: Appliance;
let file: string;

t.before(async () => {
  a = await makeAppliance(t.testdir());
  file = join(a.dir, 'b.dzb');
  const r = await runCommand(backup, [file, '--config', a.configFile], { cwd: a.dir, env });
  if (r.code !== 0) throw new Error(r.text());
});

t.test('the file is private; its clear header names the format and the KDF, and nothing secret', async (t) => {
  t.equal(statSync(file).mode & 0o777, 0o600);
  const { header } = readBackupHeader(file);
  t.match(header, { format: 'darwaza-backup', v: 1, schemaVersion: SCHEMA_VERSION, kek: 'file', kdf: { alg: 'argon2id13', opsLimit: 3, memLimitBytes: 64 * 1024 * 1024 } });
  const token = readFileSync(join(a.dir, 'certs', 'token.key'), 'utf8').trim();
  t.notOk(readFileSync(file).includes(Buffer.from(token)), 'no key in clear');
  t.notOk(readFileSync(file).includes(Buffer.from('SQLite format 3')), 'no database page in clear');
});

t.test('restore round trip: the database, the keys and the config land in empty folders', async (t) => {
  const to = t.testdir();
  const r = await runCommand(restore, [file, '--data', join(to, 'data'), '--config-out', join(to, 'gateway.config.json')], { cwd: to, env });
  t.equal(r.code, 0, r.text());
  for (const f of ['data/darwaza.db', 'certs/token.key', 'certs/kek.key', 'certs/signing-keys.json', 'gateway.config.json']) t.ok(existsSync(join(to, f)), f);
  t.equal(readFileSync(join(to, 'certs', 'token.key'), 'utf8'), readFileSync(join(a.dir, 'certs', 'token.key'), 'utf8'));
  t.equal(statSync(join(to, 'certs', 'token.key')).mode & 0o777, 0o600, 'modes kept');
  const again = await runCommand(restore, [file, '--data', join(to, 'data')], { cwd: to, env });
  t.equal(again.code, 1);
  t.match(again.err.join('\n'), /already holds a database: restore into an empty folder/);
});

t.test('a wrong passphrase is refused and leaves nothing behind', async (t) => {
  const to = t.testdir();
  const r = await runCommand(restore, [file, '--data', join(to, 'data')], { cwd: to, env: { DARWAZA_BACKUP_PASSPHRASE: 'not the passphrase at all' } });
  t.equal(r.code, 1);
  t.match(r.err.join('\n'), /wrong passphrase/);
  t.notOk(existsSync(join(to, 'data', 'darwaza.db')));
  t.notOk(existsSync(join(to, 'certs')));
});

t.test('an altered byte, an edited header or a cut-short file is refused', async (t) => {
  const to = t.testdir();
  const bytes = readFileSync(file);
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(bytes.length / 2)] ^= 1;
  writeFileSync(join(to, 'flipped.dzb'), flipped);
  const r1 = await runCommand(restore, [join(to, 'flipped.dzb'), '--data', join(to, 'd1')], { cwd: to, env });
  t.equal(r1.code, 1);
  t.match(r1.err.join('\n'), /altered or is damaged/);
  writeFileSync(join(to, 'cut.dzb'), bytes.subarray(0, bytes.length - 100));
  const r2 = await runCommand(restore, [join(to, 'cut.dzb'), '--data', join(to, 'd2')], { cwd: to, env });
  t.equal(r2.code, 1);
  t.match(r2.err.join('\n'), /cut short|altered/);
  // The clear header is authenticated too: a lowered Argon2 cost or another date is an alteration.
  const text = bytes.toString('latin1').replace(/"createdAt":"\d{4}/, '"createdAt":"1999');
  writeFileSync(join(to, 'header.dzb'), Buffer.from(text, 'latin1'));
  const r3 = await runCommand(restore, [join(to, 'header.dzb'), '--data', join(to, 'd3')], { cwd: to, env });
  t.equal(r3.code, 1);
  t.match(r3.err.join('\n'), /wrong passphrase \(or the backup was altered\)/);
  for (const d of ['d1', 'd2', 'd3']) t.notOk(existsSync(join(to, d, 'darwaza.db')), `${d}: nothing restored`);
});

t.test('the passphrase never comes from argv; restore refuses a certs folder in use', async (t) => {
  const r = await runCommand(backup, [join(a.dir, 'x.dzb'), '--passphrase', PASS], { cwd: a.dir }).catch((e) => e);
  t.match(String(r.message ?? r), /visible to every user/);
  const to = t.testdir();
  mkdirSync(join(to, 'certs'));
  writeFileSync(join(to, 'certs', 'token.key'), 'x');
  const r2 = await runCommand(restore, [file, '--data', join(to, 'data')], { cwd: to, env });
  t.equal(r2.code, 1);
  t.match(r2.err.join('\n'), /is not empty/);
});
