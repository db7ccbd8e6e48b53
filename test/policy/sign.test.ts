import t from 'tap';
import { readFileSync, writeFileSync, copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, loadPolicy, signPack, signPolicy, verifyPolicy, PolicyError, type SigningKey } from '../../src/policy/index.js';
import { command } from '../../src/cli/commands/policy.js';
import type { CliIo } from '../../src/cli/command.js';
import { captureIo } from '../helpers/cli.js';

const PK = readFileSync('policies/pk/pk.policy.yaml', 'utf8');

// A signature covers the whole pack (the policy and the profile files it references), so
// the tests lay out the shipped pack as it ships: pk/pk.policy.yaml beside profiles/.
const packFiles = (policy = PK) => ({
  pk: { 'pk.policy.yaml': policy },
  profiles: {
    'pk-research.yaml': readFileSync('policies/profiles/pk-research.yaml', 'utf8'),
    'safe-harbor.json': readFileSync('policies/profiles/safe-harbor.json', 'utf8'),
  },
});

/** Sign the pack of a policy file the way `darwaza policy sign` does. */
async function signFile(file: string, key: SigningKey) {
  const { pack } = await loadPolicy(file);
  writeFileSync(`${file}.sig`, JSON.stringify(await signPack(pack!, key)));
}

function capture(cwd: string): CliIo & { lines: string[]; errs: string[] } {
  const c = captureIo({ cwd });
  return Object.assign(c.io, { lines: c.out, errs: c.err });
}

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PolicyError) return err.message;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

t.test('keygen, sign and verify round trip through the CLI', async (t) => {
  const dir = t.testdir(packFiles());
  const io = capture(dir);
  t.equal(await command.run(['policy', 'keygen'].slice(1).concat(['--out', 'keys']), io), 0, io.errs.join('\n'));
  t.equal(statSync(join(dir, 'keys', 'policy-signing.key')).mode & 0o777, 0o600, 'the secret key is private');
  t.equal(await command.run(['keygen', '--out', 'keys'], capture(dir)), 1, 'keygen never overwrites a key');
  const sign = capture(dir);
  t.equal(await command.run(['sign', '--key', 'keys/policy-signing.key', 'pk/pk.policy.yaml'], sign), 0, sign.errs.join('\n'));
  const sig = JSON.parse(readFileSync(join(dir, 'pk', 'pk.policy.yaml.sig'), 'utf8'));
  t.match(sig, { alg: 'Ed25519', keyId: /^[0-9a-f]{16}$/, sha256: /^[0-9a-f]{64}$/, signature: /^[A-Za-z0-9+/]+=*$/, covers: 'pack' });
  const verify = capture(dir);
  t.equal(await command.run(['verify', '--trusted', 'keys/policy-signing.pub', 'pk/pk.policy.yaml'], verify), 0);
  t.match(verify.lines[0], /^verified: pk\/pk\.policy\.yaml .* \(a trusted key\)$/);
  const pub = readFileSync(join(dir, 'keys', 'policy-signing.pub'), 'utf8').trim();
  const p = await loadPolicy(join(dir, 'pk', 'pk.policy.yaml'), { requireSigned: true, trustedSigners: [pub] });
  t.equal(p.signedBy, sig.keyId);
  t.equal(p.pack?.sha256, sig.sha256, 'the signature covers exactly the hashed pack');
  t.same(Object.keys(sig.files), ['policy', 'profile:pk-research', 'profile:safe-harbor'], 'and lists the files it covers');
});

t.test('one flipped byte is refused by verify and by loadPolicy', async (t) => {
  const key = await generateSigningKey();
  const dir = t.testdir(packFiles());
  const file = join(dir, 'pk', 'pk.policy.yaml');
  await signFile(file, key);
  const bytes = Buffer.from(PK);
  const at = bytes.indexOf('only to destinations in Pakistan');
  bytes[at] ^= 0x01;
  writeFileSync(file, bytes);
  const io = capture(dir);
  t.equal(await command.run(['verify', '--trusted', key.publicKey, 'pk/pk.policy.yaml'], io), 1);
  t.match(io.lines[0], /NOT VERIFIED: .*changed after it was signed/);
  const msg = await refused(loadPolicy(file, { requireSigned: true, trustedSigners: [key.publicKey] }));
  t.match(msg, /is refused: the policy pack was changed after it was signed: the policy file changed/);
  // A flipped byte in the signature itself (the policy unchanged) fails too.
  writeFileSync(file, PK);
  await signFile(file, key);
  const sig = JSON.parse(readFileSync(`${file}.sig`, 'utf8'));
  const s = Buffer.from(sig.signature, 'base64');
  s[5] ^= 0x80;
  writeFileSync(`${file}.sig`, JSON.stringify({ ...sig, signature: s.toString('base64') }));
  t.match(await refused(loadPolicy(file, { requireSigned: true, trustedSigners: [key.publicKey] })), /does not verify with any trusted key/);
});

t.test('requireSigned refuses an unsigned policy, and a signature by an untrusted key, with clear messages', async (t) => {
  const trusted = await generateSigningKey();
  const stranger = await generateSigningKey();
  const top = t.testdir(packFiles());
  const dir = join(top, 'pk');
  const file = join(dir, 'pk.policy.yaml');
  t.match(
    await refused(loadPolicy(dir, { requireSigned: true, trustedSigners: [trusted.publicKey] })),
    /is not signed \(no pk\.policy\.yaml\.sig beside it\) and signed policies are required: refusing it/,
  );
  t.match(await refused(loadPolicy(dir, { requireSigned: true })), /no trusted signer keys are configured/);
  await signFile(file, stranger);
  t.match(await refused(loadPolicy(dir, { requireSigned: true, trustedSigners: [trusted.publicKey] })), /does not verify with any trusted key/);
  const unchecked = await loadPolicy(dir);
  t.equal(unchecked.signedBy, undefined, 'without requireSigned or trusted keys the signature is not consulted');
});

t.test('signatures cover canonical bytes: CRLF line ends and a BOM verify the same', async (t) => {
  const key = await generateSigningKey();
  const sig = await signPolicy(PK, key);
  const crlf = '\ufeff' + PK.replace(/\n/g, '\r\n');
  t.match(await verifyPolicy(crlf, sig, [key.publicKey]), { ok: true, trusted: true, keyId: key.keyId });
  t.match(await verifyPolicy(PK, sig), { ok: true, trusted: false }, 'without trusted keys the named key is used and trust is not claimed');
  t.match(await verifyPolicy(PK + ' ', sig, [key.publicKey]), { ok: false });
});

t.test('signing refuses a policy with errors', async (t) => {
  const key = await generateSigningKey();
  const dir = t.testdir({ 'k.key': JSON.stringify(key), 'bad.policy.yaml': PK.replace('status: draft', 'status: rumour') });
  const io = capture(dir);
  t.equal(await command.run(['sign', '--key', 'k.key', 'bad.policy.yaml'], io), 1);
  t.match(io.errs.join('\n'), /refusing to sign a policy with errors/);
  const badKey = capture(dir);
  writeFileSync(join(dir, 'short.key'), 'AAAA');
  copyFileSync('policies/pk/pk.policy.yaml', join(dir, 'pk.policy.yaml'));
  t.equal(await command.run(['sign', '--key', 'short.key', 'pk.policy.yaml'], badKey), 3);
  t.match(badKey.errs[0], /an Ed25519 secret key is 64 bytes/);
});
