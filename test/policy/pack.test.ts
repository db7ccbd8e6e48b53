import t from 'tap';
import { readFileSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  generateSigningKey,
  loadPolicy,
  refusalOf,
  signPack,
  signPolicy,
  unsignedPolicyWarning,
  watchPolicy,
  PolicyError,
  type CompiledPolicy,
  type PolicyRefusal,
  type SigningKey,
} from '../../src/policy/index.js';
import { command } from '../../src/cli/commands/policy.js';
import { command as init } from '../../src/cli/commands/init.js';
import type { CliIo } from '../../src/cli/command.js';

const PK = readFileSync('policies/pk/pk.policy.yaml', 'utf8');
const RESEARCH = readFileSync('policies/profiles/pk-research.yaml', 'utf8');
const HARBOR = readFileSync('policies/profiles/safe-harbor.json', 'utf8');
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

const packFiles = () => ({ pk: { 'pk.policy.yaml': PK }, profiles: { 'pk-research.yaml': RESEARCH, 'safe-harbor.json': HARBOR } });

function capture(cwd: string): CliIo & { lines: string[]; errs: string[] } {
  const lines: string[] = [];
  const errs: string[] = [];
  return { lines, errs, out: (l) => lines.push(l), err: (l) => errs.push(l), isTTY: false, cwd, env: {}, readStdin: async () => '' };
}

async function signFile(file: string, key: SigningKey) {
  const { pack } = await loadPolicy(file);
  writeFileSync(`${file}.sig`, JSON.stringify(await signPack(pack!, key)));
}

async function refusal(p: Promise<unknown>): Promise<PolicyError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PolicyError) return err;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

t.test('the pack: the policy file and the profile files it references, each hashed, in one manifest', async (t) => {
  const p = await loadPolicy('policies/pk');
  const pack = p.pack!;
  t.equal(p.sha256, sha(readFileSync('policies/pk/pk.policy.yaml')), 'the policy hash is still the hash of the policy file');
  t.same(
    pack.files.map((f) => [f.role, f.sha256]),
    [
      ['policy', p.sha256],
      ['profile:pk-research', sha(RESEARCH)],
      ['profile:safe-harbor', sha(HARBOR)],
    ],
  );
  t.equal(
    pack.manifest,
    `darwaza-pack 1\npolicy pk.policy.yaml ${p.sha256}\nprofile pk-research ../profiles/pk-research.yaml ${sha(RESEARCH)}\nprofile safe-harbor ../profiles/safe-harbor.json ${sha(HARBOR)}\n`,
  );
  t.equal(pack.sha256, sha(pack.manifest), 'the pack hash is the hash of the manifest');
  t.equal(pack.profilesSha256, sha(pack.manifest.split('\n').filter((l) => l.startsWith('profile ')).map((l) => l + '\n').join('')));
  t.same(pack.missingProfiles, []);
  t.equal(pack.profiles['pk-research'].text, RESEARCH, 'the profile texts travel with the pack, for the gateway to compile');
  t.equal(pack.profiles['safe-harbor'].file, join(process.cwd(), 'policies', 'profiles', 'safe-harbor.json'));
});

t.test('the pack hash and the profiles hash change when a profile changes; the policy hash does not', async (t) => {
  const dir = t.testdir(packFiles());
  const file = join(dir, 'pk', 'pk.policy.yaml');
  const before = await loadPolicy(file);
  writeFileSync(join(dir, 'profiles', 'pk-research.yaml'), RESEARCH.replace('topCode: 90', 'topCode: 95'));
  const after = await loadPolicy(file);
  t.equal(after.sha256, before.sha256);
  t.not(after.pack!.sha256, before.pack!.sha256);
  t.not(after.pack!.profilesSha256, before.pack!.profilesSha256);
  // Line ends are not content: a CRLF copy hashes the same.
  writeFileSync(join(dir, 'profiles', 'pk-research.yaml'), RESEARCH.replace(/\n/g, '\r\n'));
  t.equal((await loadPolicy(file)).pack!.sha256, before.pack!.sha256);
});

t.test('a tampered profile fails the pack signature: at load, on verify, with a reason that names the profile', async (t) => {
  const key = await generateSigningKey();
  const dir = t.testdir(packFiles());
  const file = join(dir, 'pk', 'pk.policy.yaml');
  await signFile(file, key);
  const opts = { requireSigned: true, trustedSigners: [key.publicKey] };
  t.equal((await loadPolicy(file, opts)).signedBy, key.keyId, 'signed and untouched: accepted');
  // Keep the dates of a research extract: one rule flipped from redact to keep.
  writeFileSync(join(dir, 'profiles', 'pk-research.yaml'), RESEARCH.replace(/method: redact/, 'method: keep'));
  const e = await refusal(loadPolicy(file, opts));
  t.match(e.message, /is refused: the policy pack was changed after it was signed: profile pk-research changed/);
  t.equal(e.code, 'tampered');
  const io = capture(dir);
  t.equal(await command.run(['verify', '--trusted', key.publicKey, 'pk/pk.policy.yaml'], io), 1);
  t.match(io.lines[0], /NOT VERIFIED: .*profile pk-research changed/);
  // A deleted profile is a change too.
  writeFileSync(join(dir, 'profiles', 'pk-research.yaml'), RESEARCH);
  rmSync(join(dir, 'profiles', 'safe-harbor.json'));
  t.match((await refusal(loadPolicy(file, opts))).message, /profile safe-harbor \(its file is missing\) changed/);
});

t.test('a signature over the policy file alone (the old format) is refused with how to fix it', async (t) => {
  const key = await generateSigningKey();
  const dir = t.testdir(packFiles());
  const file = join(dir, 'pk', 'pk.policy.yaml');
  writeFileSync(`${file}.sig`, JSON.stringify(await signPolicy(PK, key)));
  const e = await refusal(loadPolicy(file, { requireSigned: true, trustedSigners: [key.publicKey] }));
  t.match(e.message, /covers the policy file alone \(the old format\).*darwaza policy sign/);
});

t.test('unsigned, a missing profile is recorded (decisions naming it fail closed); signing it is refused', async (t) => {
  const dir = t.testdir(packFiles());
  rmSync(join(dir, 'profiles', 'pk-research.yaml'));
  const p = await loadPolicy(join(dir, 'pk'));
  t.same(p.pack!.missingProfiles, ['pk-research']);
  t.notOk(p.pack!.profiles['pk-research']);
  t.match(p.pack!.manifest, /profile pk-research \.\.\/profiles\/pk-research\.yaml missing\n/);
  const key = await generateSigningKey();
  writeFileSync(join(dir, 'k.key'), JSON.stringify(key));
  const io = capture(dir);
  t.equal(await command.run(['sign', '--key', 'k.key', 'pk/pk.policy.yaml'], io), 1);
  t.match(io.errs.join('\n'), /refusing to sign a pack whose profile files are missing: pk-research/);
});

t.test('a profile without "file" is looked for in ../profiles by name', async (t) => {
  const dir = t.testdir({ ...packFiles(), pk: { 'pk.policy.yaml': PK.replace('    file: ../profiles/safe-harbor.json\n', '') } });
  const p = await loadPolicy(join(dir, 'pk'));
  t.equal(p.pack!.profiles['safe-harbor'].sha256, sha(HARBOR));
});

t.test('the watcher reloads on a profile change alone; a refused reload carries a PHI-free reason', async (t) => {
  const key = await generateSigningKey();
  const dir = t.testdir(packFiles());
  const file = join(dir, 'pk', 'pk.policy.yaml');
  await signFile(file, key);
  const opts = { requireSigned: true, trustedSigners: [key.publicKey] };
  const initial = await loadPolicy(file, opts);
  const seen: Array<[CompiledPolicy | Error, PolicyRefusal | undefined]> = [];
  let wake: () => void = () => undefined;
  const w = watchPolicy(file, { ...opts, initial, sighup: false, debounceMs: 20 }, (x, r) => {
    seen.push([x, r]);
    wake();
  });
  t.teardown(() => w.stop());
  await new Promise((r) => setTimeout(r, 50));
  // An unsigned profile edit, written as editors do (write + rename), is seen by the watcher on its own.
  const edited = RESEARCH.replace('topCode: 90', 'topCode: 95');
  const got = new Promise<void>((r) => (wake = r));
  writeFileSync(join(dir, 'profiles', 'pk-research.yaml.new'), edited);
  renameSync(join(dir, 'profiles', 'pk-research.yaml.new'), join(dir, 'profiles', 'pk-research.yaml'));
  await Promise.race([got, new Promise((r) => setTimeout(r, 3000))]);
  t.equal(seen.length, 1, 'the watcher saw the change in the profiles folder on its own');
  const [err, why] = seen[0] ?? [];
  t.ok(err instanceof Error, 'the unsigned profile edit is refused');
  t.same(why, { code: 'tampered', reason: 'policy pack pk.policy.yaml refused: ' + (err as PolicyError).message.split('is refused: ')[1] });
  t.notMatch(why!.reason, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the reason has no paths');
  t.equal(w.current(), initial, 'the signed pack stays in force');
  // Signed, the same edit is a new pack: same policy hash, new pack hash.
  await signFile(file, key);
  const next = await w.reload();
  t.equal(next?.sha256, initial.sha256);
  t.not(next?.pack?.sha256, initial.pack?.sha256);
  t.equal(next?.pack?.profiles['pk-research'].text, edited);
});

t.test('refusalOf reduces lint errors to codes and lines, never file content', async (t) => {
  const dir = t.testdir(packFiles());
  const secret = 'Zainab Qureshi 35202-1234567-1';
  writeFileSync(join(dir, 'pk', 'pk.policy.yaml'), PK.replace('status: draft', `status: draft\n    note: ${secret}`));
  const r = refusalOf(await refusal(loadPolicy(join(dir, 'pk'))));
  t.equal(r.code, 'invalid');
  t.match(r.reason, /^policy pk\.policy\.yaml has \d+ errors? \(unknown-field at line \d+/);
  t.notMatch(r.reason, /Zainab|35202/);
  t.same(refusalOf(new Error('x')), { code: 'other', reason: 'the policy could not be loaded' });
});

t.test('the unsigned demo says so; a production config does not warn', async (t) => {
  const w = unsignedPolicyWarning({ requireSigned: false, trustedSigners: [] });
  t.match(w, /^UNSIGNED POLICY PACK: signatures are not required \(policy\.requireSigned is false\).*demo setting.*darwaza init --production/);
  t.match(unsignedPolicyWarning({ requireSigned: false, trustedSigners: ['k'] }, 'abcd'), /signed by key abcd, but an unsigned pack would be accepted too/);
  t.equal(unsignedPolicyWarning({ requireSigned: true, trustedSigners: ['k'] }), undefined);
});

t.test('`darwaza init --production` writes requireSigned: true; plain init keeps the unsigned demo', async (t) => {
  const dir = t.testdir({});
  const io = capture(dir);
  t.equal(await init.run(['--dir', 'prod', '--production'], io), 0, io.errs.join('\n'));
  t.equal(JSON.parse(readFileSync(join(dir, 'prod', 'gateway.config.json'), 'utf8')).policy.requireSigned, true);
  t.match(io.lines.join('\n'), /policy\.requireSigned is true: add your policy-signing public key/);
  t.equal(await init.run(['--dir', 'demo'], capture(dir)), 0);
  t.equal(JSON.parse(readFileSync(join(dir, 'demo', 'gateway.config.json'), 'utf8')).policy.requireSigned, false);
  // The pack init lays out loads with all its profiles.
  t.same((await loadPolicy(join(dir, 'prod', 'policies', 'pk'))).pack!.missingProfiles, []);
});
