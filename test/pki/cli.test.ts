import t from 'tap';
import { join } from 'node:path';
import { captureIo } from '../helpers/cli.js';
import { command as certs } from '../../src/cli/commands/certs.js';

const makeIo = (cwd: string) => captureIo({ cwd });

t.test('certs init, issue, revoke and list work end to end from the command line', async (t) => {
  const dir = t.testdir();
  const run = async (...args: string[]) => {
    const io = makeIo(dir);
    const code = await certs.run([...args, '--certs-dir', 'certs'], io.io);
    return { code, ...io };
  };
  t.equal((await run('init')).code, 0);
  t.match((await run('init')).out[0], /already has a CA/);
  t.equal((await run('issue', '--server', 'localhost')).code, 0);
  const issued = await run('issue', 'lab-system', '--days', '90', '--out', 'handover');
  t.equal(issued.code, 0);
  t.match(issued.out.join('\n'), /PKCS#12/);
  const again = await run('issue', 'lab-system');
  t.equal(again.code, 1);
  t.match(again.err.at(-1), /already exists/);
  const renewed = await run('issue', 'lab-system', '--renew', '--days', '90');
  t.equal(renewed.code, 0, 'renew replaces it');
  t.equal((await run('revoke', 'lab-system')).code, 0);
  const list = await run('list', '--json');
  const rows = JSON.parse(list.out.join('\n'));
  t.same(rows.map((r: { name: string; revoked: boolean }) => [r.name, r.revoked]), [['ca', false], ['server', false], ['lab-system', true]]);
  t.equal(rows[2].daysLeft, 89);
  t.match(again.err.at(-1), /--renew/);
  const pin = makeIo(dir);
  t.equal(await certs.run(['pin', join('certs', 'server.crt')], pin.io), 0);
  t.match(pin.out[0], /^[A-Za-z0-9+/]{43}=$/);
  const csr = await run('csr', '--cn', 'hospital-a-gateway');
  t.equal(csr.code, 0);
  await t.rejects(run('issue'), { name: 'UsageError' });
  await t.rejects(run('frobnicate'), { name: 'UsageError' });
  await t.rejects(run('issue', 'x', '--days', 'many'), { name: 'UsageError' });
});
