// `darwaza audit verify|export --store postgres://…`: the shared log checked by the CLI, in-process, on a throwaway cluster.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresAuditLog } from '../../src/audit/index.js';
import { command } from '../../src/cli/commands/audit.js';
import { captureIo } from '../helpers/cli.js';
import { startPostgres } from '../helpers/postgres.js';
import { makeEvent, makeSigner, tempDir } from './helpers.js';

const server = await startPostgres(t);

t.test('verify and export of the PostgreSQL log from the CLI; a tampered entry fails with its index', async (t) => {
  const url = await server.newDatabase();
  const signer = await makeSigner();
  const log = await PostgresAuditLog.open({ url, nodeId: 'gw-a', signer });
  t.teardown(() => log.close());
  await log.append(Array.from({ length: 25 }, () => makeEvent()));
  await log.signTreeHead();
  await log.append(Array.from({ length: 5 }, () => makeEvent()));
  await log.signTreeHead();
  const dir = tempDir();
  const keyFile = join(dir, 'key.b64');
  writeFileSync(keyFile, Buffer.from(signer.publicKey).toString('base64'));

  const v = captureIo({ cwd: dir });
  t.equal(await command.run(['verify', '--store', url, '--public-key', keyFile], v.io), 0, v.text());
  t.match(v.out.join('\n'), /VERIFIED: 30 entries, 2 signed tree heads/);

  const e = captureIo({ cwd: dir });
  t.equal(await command.run(['export', '--store', url, '--out', 'x'], e.io), 0, e.text());
  const off = captureIo({ cwd: dir });
  t.equal(await command.run(['verify', '--offline', 'x', '--public-key', keyFile], off.io), 0, off.text());
  t.match(off.out.join('\n'), /VERIFIED: 30 entries/);

  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query("SET session_replication_role = 'replica'");
  await admin.query(`UPDATE audit_entries SET entry = replace(entry, '"purpose":"TREAT"', '"purpose":"HRESCH"') WHERE idx = 12`);
  await admin.end();
  const bad = captureIo({ cwd: dir });
  t.equal(await command.run(['verify', '--store', url, '--public-key', keyFile], bad.io), 1);
  t.match(bad.out.join('\n'), /FAILED: entry 12 does not match[\s\S]*First bad entry: index 12/);

  const usage = captureIo({ cwd: dir });
  await t.rejects(command.run(['verify', '--store', 'mysql://x'], usage.io), /postgres:\/\//);
});
