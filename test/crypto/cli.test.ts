import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureIo } from '../helpers/cli.js';
import { command as keys } from '../../src/cli/commands/keys.js';
import { command as envelope } from '../../src/cli/commands/envelope.js';

const makeIo = (cwd: string, stdin = '') => captureIo({ cwd, stdin });

t.test('keys list --json prints the keys receivers should trust, and rotate adds one in overlap', async (t) => {
  const dir = t.testdir();
  const a = makeIo(dir);
  t.equal(await keys.run(['list', '--json', '--certs-dir', 'certs'], a.io), 0);
  const before = JSON.parse(a.out.join('\n')).trustedGatewayKeys;
  t.equal(before.length, 1);
  const b = makeIo(dir);
  t.equal(await keys.run(['rotate', '--certs-dir', 'certs'], b.io), 0);
  t.match(b.out[0], /new signing key [0-9a-f]{16}/);
  const c = makeIo(dir);
  await keys.run(['list', '--json', '--certs-dir', 'certs'], c.io);
  const after = JSON.parse(c.out.join('\n')).trustedGatewayKeys;
  t.equal(after.length, 2);
  t.ok(after.some((k: { keyId: string; active: boolean }) => k.keyId === before[0].keyId && !k.active));
  const d = makeIo(dir);
  t.equal(await keys.run(['remove', after.find((k: { active: boolean }) => k.active).keyId, '--certs-dir', 'certs'], d.io), 1, 'the active key cannot be removed');
  t.match(d.err[0], /active/);
});

t.test('envelope seal then open by hand returns the payload; a wrong trust refuses with exit 1', async (t) => {
  const dir = t.testdir({ 'note.json': '{"resourceType":"Observation","status":"final"}' });
  const s = makeIo(dir);
  t.equal(await envelope.run(['seal', '--certs-dir', 'certs', '--destination', 'national-telemed', 'note.json'], s.io), 0);
  writeFileSync(join(dir, 'env.json'), s.out[0]);
  const trust = makeIo(dir);
  await keys.run(['list', '--json', '--certs-dir', 'certs'], trust.io);
  writeFileSync(join(dir, 'trust.json'), trust.out.join('\n'));
  const o = makeIo(dir);
  t.equal(await envelope.run(['open', '--key', 'certs/recipient-national-telemed.key', '--trust', 'trust.json', 'env.json'], o.io), 0);
  t.equal(o.out[0], readFileSync(join(dir, 'note.json'), 'utf8'));
  t.match(JSON.parse(o.err[0]), { sealed: true, meta: { destination: 'national-telemed' } });
  const v = makeIo(dir, s.out[0]);
  t.equal(await envelope.run(['verify', '--trust', 'trust.json', '-'], v.io), 0, 'verify needs no recipient key');
  const w = makeIo(dir);
  t.equal(await envelope.run(['open', '--key', 'certs/recipient-national-telemed.key', '--trust', Buffer.alloc(32, 9).toString('base64'), 'env.json'], w.io), 1);
  t.match(w.err[0], /refused \(403\)/);
  const bad = makeIo(dir);
  t.equal(await envelope.run(['open', '--key', 'missing.key', 'env.json', '--certs-dir', 'certs'], bad.io), 3);
  await t.rejects(envelope.run(['open', 'env.json'], makeIo(dir).io), { name: 'UsageError' });
});
