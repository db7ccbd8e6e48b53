import t, { type Test } from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { command } from '../../src/cli/commands/consent.js';
import { EXIT, UsageError } from '../../src/cli/command.js';
import { captureIo } from '../helpers/cli.js';
import { makeConsent } from '../fixtures/consents/make.js';

const io = (cwd: string, stdin = '') => captureIo({ cwd, stdin });

function dir(t: Test) {
  return t.testdir({});
}

t.test('import reads NDJSON, reports bad lines by line and element, keeps the good ones, exits 3', async (t) => {
  const cwd = dir(t);
  const lines = [
    JSON.stringify(makeConsent({ id: 'n1' })),
    JSON.stringify(makeConsent({ id: 'n2', patient: undefined })),
    '{not json',
    '',
    JSON.stringify(makeConsent({ id: 'n3', provision: { type: 'permit', period: { start: '2026-02-30' } } })),
    JSON.stringify(makeConsent({ id: 'n4', patient: { reference: 'Patient/9' } })),
  ];
  writeFileSync(join(cwd, 'c.ndjson'), lines.join('\n') + '\n');
  const r = io(cwd);
  const code = await command.run(['import', 'c.ndjson'], r.io);
  t.equal(code, EXIT.badInput);
  t.same(r.err.filter((l) => /^line/.test(l)), [
    'line 2: Consent.patient: is required',
    'line 3: not valid JSON',
    'line 5: Consent.provision.period.start: must be a FHIR dateTime (a time needs a timezone offset)',
  ]);
  t.match(r.out.at(-1), /imported 2 consent version\(s\); 0 unchanged; 3 refused/);
  t.match(r.err[0], /created patient-token key .*certs\/token\.key \(mode 0600\)/);
  const key = join(cwd, 'certs', 'token.key');
  t.equal(statSync(key).mode & 0o777, 0o600);
  t.equal(Buffer.from(readFileSync(key, 'utf8').trim(), 'base64').length, 32);

  const list = io(cwd);
  t.equal(await command.run(['list'], list.io), EXIT.ok);
  t.match(list.out.at(-1), /2 consent\(s\)/);
  const one = io(cwd);
  t.equal(await command.run(['list', '--limit', '1'], one.io), EXIT.ok);
  t.match(one.out.at(-1), /1 consent\(s\)/);
  await t.rejects(command.run(['list', '--limit', 'lots'], io(cwd).io), UsageError);
  const mine = io(cwd);
  t.equal(await command.run(['list', '--patient', 'Patient/9', '--json'], mine.io), EXIT.ok);
  t.same(JSON.parse(mine.out[0]!).map((c: { id: string }) => c.id), ['n4']);
  const again = io(cwd);
  t.equal(await command.run(['import', 'c.ndjson'], again.io), EXIT.badInput);
  t.match(again.out.at(-1), /imported 0 consent version\(s\); 2 unchanged; 3 refused/, 'a re-import adds no versions');
});

t.test('import reads a pretty-printed Bundle (PUT urls give ids) and a Bundle from stdin', async (t) => {
  const cwd = dir(t);
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: makeConsent(), request: { method: 'PUT', url: 'Consent/b1' } },
      { resource: makeConsent({ status: 'unknown' }), request: { method: 'POST', url: 'Consent' } },
      { resource: makeConsent({ id: 'b3' }), request: { method: 'POST', url: 'Consent' } },
    ],
  };
  writeFileSync(join(cwd, 'b.json'), JSON.stringify(bundle, null, 2));
  const r = io(cwd);
  t.equal(await command.run(['import', 'b.json'], r.io), EXIT.badInput);
  t.same(r.err.filter((l) => /^entry/.test(l)), ['entry 2: Consent.status: must be one of draft, proposed, active, rejected, inactive, entered-in-error']);
  const show = io(cwd);
  t.equal(await command.run(['show', 'b1'], show.io), EXIT.ok);
  t.equal(JSON.parse(show.out.join('\n')).id, 'b1');

  const stdin = io(cwd, JSON.stringify({ ...bundle, entry: [bundle.entry[0]] }));
  t.equal(await command.run(['import', '-'], stdin.io), EXIT.ok);
  t.match(stdin.out.at(-1), /0 consent version\(s\); 1 unchanged; 0 refused/);
});

t.test('show --history lists every version with its received time and reason', async (t) => {
  const cwd = dir(t);
  writeFileSync(join(cwd, 'v.ndjson'), [makeConsent({ id: 'v' }), makeConsent({ id: 'v', status: 'inactive' })].map((c) => JSON.stringify(c)).join('\n'));
  await command.run(['import', 'v.ndjson'], io(cwd).io);
  const h = io(cwd);
  t.equal(await command.run(['show', 'v', '--history'], h.io), EXIT.ok);
  t.equal(h.out.length, 2);
  t.match(h.out[1], /^v\s+2\s+inactive/);
  const missing = io(cwd);
  t.equal(await command.run(['show', 'nope'], missing.io), EXIT.failed);
  t.equal(await command.run(['show', 'nope', '--history'], io(cwd).io), EXIT.failed);
});

t.test('the token key file and data dir can be chosen; a bad key file is a clear error', async (t) => {
  const cwd = dir(t);
  writeFileSync(join(cwd, 'k.key'), Buffer.alloc(32, 7).toString('base64'));
  writeFileSync(join(cwd, 'one.ndjson'), JSON.stringify(makeConsent({ id: 'k1' })));
  const r = io(cwd);
  t.equal(await command.run(['import', 'one.ndjson', '--token-key-file', 'k.key', '--data-dir', 'elsewhere'], r.io), EXIT.ok);
  // Nothing is stored in clear: with no KEK anywhere, the import makes certs/kek.key (and says so); no token key is made.
  t.match(r.err, [/created key-encryption key .*certs\/kek\.key \(mode 0600\)/], 'only the key-encryption key was created');
  t.ok(statSync(join(cwd, 'elsewhere', 'darwaza.db')).isFile());
  const found = io(cwd);
  await command.run(['list', '--patient', '123', '--token-key-file', 'k.key', '--data-dir', 'elsewhere', '--json'], found.io);
  t.equal(JSON.parse(found.out[0]!).length, 1);
  const wrongKey = io(cwd);
  await command.run(['list', '--patient', '123', '--data-dir', 'elsewhere', '--json'], wrongKey.io);
  t.equal(JSON.parse(wrongKey.out[0]!).length, 0, 'another key gives other tokens');
  writeFileSync(join(cwd, 'bad.key'), 'short');
  const bad = io(cwd);
  t.equal(await command.run(['list', '--token-key-file', 'bad.key'], bad.io), EXIT.badInput);
  t.match(bad.err[0], /token key file/);
});

t.test('usage mistakes throw UsageError; a missing file is bad input', async (t) => {
  const cwd = dir(t);
  await t.rejects(command.run([], io(cwd).io), UsageError);
  await t.rejects(command.run(['frobnicate'], io(cwd).io), UsageError);
  await t.rejects(command.run(['show'], io(cwd).io), UsageError);
  await t.rejects(command.run(['import'], io(cwd).io), UsageError);
  await t.rejects(command.run(['list', '--nope'], io(cwd).io), UsageError);
  const r = io(cwd);
  t.equal(await command.run(['import', 'missing.ndjson'], r.io), EXIT.badInput);
  t.match(r.err[0], /no such file/);
});

t.test('consents the command cannot decrypt are reported, not silently left out', async (t) => {
  const cwd = dir(t);
  const { openDatabase } = await import('../../src/store/index.js');
  const { ConsentRegistry, hmacTokenizer, loadOrCreateTokenKey } = await import('../../src/consent/index.js');
  const { testCipher } = await import('../fixtures/consents/make.js');
  const { key } = loadOrCreateTokenKey(join(cwd, 'certs', 'token.key'));
  const db = openDatabase(join(cwd, 'data', 'darwaza.db'));
  ConsentRegistry.open(db, { tokenize: hmacTokenizer(key), cipher: testCipher() }).put(makeConsent({ id: 'sealed' }));
  db.close();
  const list = io(cwd);
  t.equal(await command.run(['list'], list.io), EXIT.failed);
  t.match(list.err.at(-1), /1 consent\(s\) could not be read/);
  const show = io(cwd);
  t.equal(await command.run(['show', 'sealed'], show.io), EXIT.failed);
  t.match(show.err[0], /Consent\/sealed version 1 cannot be read/);
  t.equal(await command.run(['show', 'sealed', '--history'], io(cwd).io), EXIT.failed);
});
