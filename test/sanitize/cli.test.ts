/**
 * `darwaza sanitize`: the privacy officer's view of a profile on sample data.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { command, createSanitizeCommand } from '../../src/cli/commands/sanitize.js';
import { DEMO_CONFIG } from '../../src/config/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { captureIo } from '../helpers/cli.js';

const repo = process.cwd();
const sample = join(repo, 'test', 'fixtures', 'pk-patients', 'zulfiqar-bundle.json');

const io = (stdin = '') => captureIo({ cwd: repo, stdin });

t.test('prints the de-identified resource, with keys from a --keys file', async (t) => {
  const dir = t.testdir({ 'keys.json': JSON.stringify({ cryptoHashKey: 'cli-key' }) });
  const c = io();
  const code = await command.run(['--profile', 'pk-research', '--keys', join(dir, 'keys.json'), sample], c.io);
  t.equal(code, 0, c.err.join('\n'));
  const out = JSON.parse(c.out.join('\n'));
  t.equal(out.entry[0].resource.id, createHmac('sha256', 'cli-key').update('6f1c2a3e-8b1d-4c5e-9f20-1a2b3c4d5e6f').digest('hex'));
  t.notOk(c.out.join('\n').includes('Zulfiqar'));
});

t.test('--diff shows what changed element by element; --changes only where and how', async (t) => {
  const d = io();
  t.equal(await command.run(['--diff', '--profile', 'pk-research', '--ephemeral-keys', sample], d.io), 0);
  t.ok(d.out.some((l) => l.startsWith('- Bundle.entry[0].resource.name[0].family: "Chaudhry"')), 'a removed name');
  t.ok(d.out.some((l) => /^~ Bundle\.entry\[0\]\.resource\.birthDate: "1961-11-23" → "1961"$/.test(l)), 'a date cut to its year');
  const c = io();
  t.equal(await command.run(['--changes', '--profile', 'pk-research', '--ephemeral-keys', sample], c.io), 0);
  t.ok(c.out.includes('Bundle.entry[0].resource.name[0].family\tredact\tredacted'));
  t.notOk(c.out.join('\n').includes('Chaudhry'), 'no values in --changes');
});

t.test('reads stdin with -, and takes a profile by path', async (t) => {
  const c = io(JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Khan' }], birthDate: '1990-02-03' }));
  const code = await command.run(['--profile', join(repo, 'policies', 'profiles', 'safe-harbor.json'), '--ephemeral-keys', '--compact', '-'], c.io);
  t.equal(code, 0, c.err.join('\n'));
  t.same(JSON.parse(c.out[0]).birthDate, '1990');
});

t.test('clear errors: no keys, unknown profile, bad input, bad keys file', async (t) => {
  const a = io();
  t.equal(await command.run(['--profile', 'pk-research', sample], a.io), 2);
  t.match(a.err[0], /needs cryptoHashKey: give --keys FILE/);
  const b = io();
  t.equal(await command.run(['--profile', 'no-such', sample], b.io), 3);
  t.match(b.err[0], /no profile "no-such"/);
  const dir = t.testdir({ 'bad.json': '{"resourceType": 1}', 'keys.json': '{"hashKey": "x"}' });
  const c = io();
  t.equal(await command.run(['--profile', 'pk-research', '--ephemeral-keys', join(dir, 'bad.json')], c.io), 3);
  t.match(c.err[0], /not a FHIR resource/);
  const d = io();
  t.equal(await command.run(['--profile', 'pk-research', '--keys', join(dir, 'keys.json'), sample], d.io), 3);
  t.match(d.err[0], /unknown key name "hashKey"/);
  const e = io();
  t.equal(await command.run(['--profile', 'pk-research', '--key-from-config', sample], e.io), 2);
  t.match(e.err[0], /needs --destination NAME/);
  writeFileSync(join(dir, 'x.json'), '{');
  const f = io();
  t.equal(await command.run(['--help'], f.io), 0);
  t.match(f.out[0], /darwaza sanitize --profile P/);
});

t.test('--key-from-config uses the key source the gateway wires in', async (t) => {
  const seen: Array<{ config: string; destination?: string }> = [];
  const cmd = createSanitizeCommand({
    keysFromConfig: async ({ config, destination }) => {
      seen.push({ config, destination });
      return { cryptoHashKey: 'from-store' };
    },
  });
  const c = io();
  t.equal(await cmd.run(['--profile', 'pk-research', '--key-from-config', '--destination', 'research-pk', '--compact', sample], c.io), 0);
  t.same(seen, [{ config: 'gateway.config.json', destination: 'research-pk' }]);
  t.equal(JSON.parse(c.out[0]).entry[0].resource.id, createHmac('sha256', 'from-store').update('6f1c2a3e-8b1d-4c5e-9f20-1a2b3c4d5e6f').digest('hex'));
});

t.test('--key-from-config reads the keys of the destination from the key store of the gateway', async (t) => {
  const dir = t.testdir({});
  const config = structuredClone(DEMO_CONFIG) as any;
  config.certsDir = join(dir, 'certs');
  config.dataDir = join(dir, 'data');
  const destination = config.destinations[0].name as string;
  writeFileSync(join(dir, 'gateway.config.json'), JSON.stringify(config));
  const c0 = io();
  t.equal(await command.run(['--profile', 'pk-research', '--key-from-config', '--config', join(dir, 'gateway.config.json'), '--destination', destination, sample], c0.io), 3);
  t.match(c0.err[0], /no de-identification keys yet/, 'a gateway home without keys is not silently made');
  const store = await loadOrCreateKeyStore(config.certsDir);
  const keys = store.deidKeys(destination);
  const c = io();
  const code = await command.run(['--profile', 'pk-research', '--key-from-config', '--config', join(dir, 'gateway.config.json'), '--destination', destination, '--compact', sample], c.io);
  t.equal(code, 0, c.err.join('\n'));
  t.equal(JSON.parse(c.out[0]).entry[0].resource.id, createHmac('sha256', keys.cryptoHashKey).update('6f1c2a3e-8b1d-4c5e-9f20-1a2b3c4d5e6f').digest('hex'));
  const d = io();
  t.equal(await command.run(['--profile', 'pk-research', '--key-from-config', '--config', join(dir, 'gateway.config.json'), '--destination', 'nowhere', sample], d.io), 3);
  t.match(d.err[0], /no destination "nowhere"/);
});
