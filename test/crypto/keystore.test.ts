import t from 'tap';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import {
  loadOrCreateKeyStore,
  createTokenizer,
  getSodium,
  keyIdOf,
  sha256,
  hex,
  kekSourceFromConfig,
  rotateNow,
  scheduleKeyRotation,
  verifySignature,
} from '../../src/crypto/index.js';

const mode = (p: string) => statSync(p).mode & 0o777;

t.test('the key store makes its files 0600 in a 0700 folder, and a second load changes nothing', async (t) => {
  const dir = join(t.testdir(), 'certs');
  const a = await loadOrCreateKeyStore(dir);
  a.ensureKekFile();
  a.demoRecipient('national-telemed');
  a.deidKeys('research-ai');
  t.equal(mode(dir), 0o700);
  const files = readdirSync(dir, { recursive: true }) as string[];
  const snapshot = new Map<string, string>();
  for (const f of files) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) {
      t.equal(mode(p), 0o700, `${f} is 0700`);
      continue;
    }
    t.equal(mode(p), 0o600, `${f} is 0600`);
    snapshot.set(f, readFileSync(p, 'utf8'));
  }
  t.ok(files.some((f) => /^signing-[0-9a-f]{16}\.key$/.test(f)));
  t.ok(files.includes('token.key') && files.includes('kek.key') && files.includes('recipient-national-telemed.pub'));
  const b = await loadOrCreateKeyStore(dir);
  b.ensureKekFile();
  b.demoRecipient('national-telemed');
  b.deidKeys('research-ai');
  for (const [f, text] of snapshot) t.equal(readFileSync(join(dir, f), 'utf8'), text, `${f} unchanged`);
  t.equal(b.signer().keyId, a.signer().keyId);
  t.same(b.deidKeys('research-ai'), a.deidKeys('research-ai'));
});

t.test('the signer key id is the first 16 hex of sha256(publicKey), and it signs verifiably', async (t) => {
  const keys = await loadOrCreateKeyStore(t.testdir());
  const s = keys.signer();
  t.equal(s.keyId, hex(sha256(s.publicKey)).slice(0, 16));
  t.equal(keyIdOf(s.publicKey), s.keyId);
  const msg = Buffer.from('tree head');
  t.ok(verifySignature(s.sign(msg), msg, s.publicKey));
  t.notOk(verifySignature(s.sign(msg), Buffer.from('tree heaD'), s.publicKey));
});

t.test('a secret file with loose permissions is refused with the chmod that fixes it', async (t) => {
  const dir = t.testdir();
  await loadOrCreateKeyStore(dir);
  chmodSync(join(dir, 'token.key'), 0o644);
  await t.rejects(loadOrCreateKeyStore(dir), { name: 'KeyFileError', message: /chmod 600 .*token\.key/ });
});

t.test('de-identification keys differ per destination and fit the anonymizer (32-character AES key)', async (t) => {
  const keys = await loadOrCreateKeyStore(t.testdir());
  const a = keys.deidKeys('research-ai');
  const b = keys.deidKeys('registry');
  t.not(a.cryptoHashKey, b.cryptoHashKey);
  t.equal(Buffer.from(a.encryptKey, 'utf8').length, 32);
  t.throws(() => keys.deidKeys('../etc/passwd'), { message: /cannot name a key file/ });
});

t.test('rotation keeps old signing keys trusted until pruned after the overlap', async (t) => {
  const keys = await loadOrCreateKeyStore(t.testdir());
  const first = keys.signer().keyId;
  const t0 = new Date('2026-11-01T03:00:00Z');
  const { rotated, pruned } = rotateNow(keys, { clock: () => t0, overlapMs: 10 * 86400e3 });
  t.same(pruned, []);
  t.same(keys.trustedGatewayKeys().map((k) => k.keyId).sort(), [first, rotated.keyId].sort());
  t.equal(keys.signingKeys()[0].keyId, rotated.keyId, 'newest first');
  t.equal(keys.signingKeys()[1].retiredAt, t0.toISOString());
  t.throws(() => keys.removeSigningKey(rotated.keyId), { message: /active/ });
  const t1 = new Date('2026-11-12T03:00:00Z');
  const second = rotateNow(keys, { clock: () => t1, overlapMs: 10 * 86400e3 });
  t.same(second.pruned, [first], 'the first key left the trust list after its overlap');
  t.same(keys.trustedGatewayKeys().map((k) => k.keyId).sort(), [rotated.keyId, second.rotated.keyId].sort());
  const reopened = await loadOrCreateKeyStore(keys.dir);
  t.equal(reopened.signer().keyId, second.rotated.keyId, 'the rotation persisted');
  t.equal(reopened.signerById(first), undefined);
});

t.test('scheduleKeyRotation validates its cron expression, rotates on schedule, and stop() ends the task', async (t) => {
  const keys = await loadOrCreateKeyStore(t.testdir());
  t.throws(() => scheduleKeyRotation(keys, { cron: 'every tuesday' }), { message: /not a valid cron/ });
  const before = keys.signer().keyId;
  const rotated = await new Promise<string>((resolve, reject) => {
    const job = scheduleKeyRotation(keys, {
      cron: '* * * * * *', // every second
      onRotated: (e) => {
        job.stop();
        resolve(e.rotated.keyId);
      },
      onError: reject,
    });
  });
  t.not(rotated, before);
  t.equal(keys.signer().keyId, rotated, 'the scheduled task rotated the key in process');
  t.ok(keys.trustedGatewayKeys().some((k) => k.keyId === before), 'the old key stays trusted');
});

t.test('patient tokens are stable HMAC-SHA256 in base64url, equal to crypto_auth_hmacsha256', async (t) => {
  const s = await getSodium();
  const key = new Uint8Array(32).fill(3);
  const tok = createTokenizer(key);
  const a = tok('cnic|35202-1234567-1');
  t.equal(a, tok('cnic|35202-1234567-1'), 'stable');
  t.match(a, /^[A-Za-z0-9_-]{43}$/);
  t.equal(a, Buffer.from(s.crypto_auth_hmacsha256(Buffer.from('cnic|35202-1234567-1'), key)).toString('base64url'));
  t.equal(a, createHmac('sha256', key).update('cnic|35202-1234567-1').digest('base64url'));
  t.not(a, tok('cnic|35202-1234567-2'));
  t.not(a, createTokenizer(new Uint8Array(32).fill(4))('cnic|35202-1234567-1'), 'another key, another token');
  t.throws(() => createTokenizer(new Uint8Array(8)), { message: /32 bytes/ });
  t.throws(() => tok(''), { message: /patient id/ });
  const keys = await loadOrCreateKeyStore(t.testdir());
  t.equal(keys.tokenizer()('x'), createTokenizer(keys.tokenKey())('x'));
});

t.test('kekSourceFromConfig maps the config to a KEK source with clear errors', async (t) => {
  const dir = t.testdir();
  t.same(kekSourceFromConfig(undefined, { certsDir: '/c' }), { from: 'file', path: '/c/kek.key' });
  t.same(kekSourceFromConfig('file', { certsDir: '/c' }), { from: 'file', path: '/c/kek.key' });
  t.match(kekSourceFromConfig({ from: 'env' }, { certsDir: '/c', env: {} }), { from: 'env', variable: 'DARWAZA_KEK' });
  t.throws(() => kekSourceFromConfig('passphrase', { certsDir: '/c', env: {} }), { message: /DARWAZA_KEK_PASSPHRASE/ });
  t.match(kekSourceFromConfig('passphrase', { certsDir: '/c', env: { DARWAZA_KEK_PASSPHRASE: 'long enough passphrase' } }), {
    from: 'passphrase',
    passphrase: 'long enough passphrase',
  });
  const pf = join(dir, 'pass.txt');
  writeFileSync(pf, 'from a file passphrase\n', { mode: 0o644 });
  chmodSync(pf, 0o644);
  t.throws(() => kekSourceFromConfig({ from: 'passphrase', file: pf }, { certsDir: '/c' }), { message: /chmod 600/ });
  chmodSync(pf, 0o600);
  t.match(kekSourceFromConfig({ from: 'passphrase', file: pf }, { certsDir: '/c' }), { passphrase: 'from a file passphrase' });
  t.throws(() => kekSourceFromConfig({ from: 'hsm' } as never, { certsDir: '/c' }), { message: /keys\.kek\.from/ });
});

t.test('a rotation made by another process (the CLI) is not undone by this process changing the list', async (t) => {
  const dir = t.testdir();
  const gateway = await loadOrCreateKeyStore(dir);
  const cli = await loadOrCreateKeyStore(dir);
  const first = gateway.signer().keyId;
  const viaCli = cli.rotateSigningKey().keyId;
  const viaGateway = gateway.rotateSigningKey().keyId;
  const ids = (await loadOrCreateKeyStore(dir)).signingKeys().map((k) => k.keyId);
  t.same(ids.sort(), [first, viaCli, viaGateway].sort(), 'all three keys are listed');
  gateway.removeSigningKey(first);
  t.same((await loadOrCreateKeyStore(dir)).signingKeys().map((k) => k.keyId).sort(), [viaCli, viaGateway].sort());
  gateway.reload();
  t.equal(gateway.signer().keyId, viaGateway);
});

t.test('finding: retired signing seeds stayed on disk — now the seed is destroyed when the overlap ends; the public key stays listed', async (t) => {
  const dir = t.testdir();
  const keys = await loadOrCreateKeyStore(dir);
  const first = keys.signer().keyId;
  const seedOf = (id: string) => join(dir, `signing-${id}.key`);
  const t0 = new Date('2026-11-01T03:00:00Z');
  const a = rotateNow(keys, { clock: () => t0, overlapMs: 10 * 86400e3 });
  t.ok(statSync(seedOf(first)).isFile(), 'during the overlap the retired seed is kept (it still signs nothing, but stays trusted)');
  const b = rotateNow(keys, { clock: () => new Date('2026-11-12T03:00:00Z'), overlapMs: 10 * 86400e3 });
  t.same(b.pruned, [first]);
  t.notOk(readdirSync(dir).includes(`signing-${first}.key`), 'after the overlap: no seed file of the pruned key remains');
  const manifest = JSON.parse(readFileSync(join(dir, 'signing-keys.json'), 'utf8')) as { keys: Array<{ keyId: string; publicKey: string; removedAt?: string }> };
  t.match(manifest.keys.find((k) => k.keyId === first), { publicKey: String, removedAt: String }, 'its public key stays for verification');

  // `keys remove` ends an overlap at once, and destroys the seed the same way.
  keys.removeSigningKey(a.rotated.keyId);
  t.notOk(readdirSync(dir).includes(`signing-${a.rotated.keyId}.key`), 'after keys remove: no seed file remains');
  t.ok(statSync(seedOf(b.rotated.keyId)).isFile(), 'the active seed is untouched');
  t.same(
    readdirSync(dir).filter((f) => /^signing-[0-9a-f]{16}\.key$/.test(f)),
    [`signing-${b.rotated.keyId}.key`],
    'only the active seed is on disk',
  );

  // A seed left behind by an earlier version (removed in the manifest, file still there) is destroyed at the next open.
  writeFileSync(seedOf(first), Buffer.alloc(32, 1).toString('base64') + '\n', { mode: 0o600 });
  await loadOrCreateKeyStore(dir);
  t.notOk(readdirSync(dir).includes(`signing-${first}.key`), 'a leftover retired seed is destroyed at open');
});
