import t from 'tap';
import { randomBytes } from 'node:crypto';
import {
  getSodium,
  signerFromSeed,
  recipientFromSecret,
  sealEnvelope,
  sealAndSerialize,
  serializeEnvelope,
  createReceiver,
  loadOrCreateKeyStore,
  EnvelopeInputError,
  resolveRecipient,
  type EnvelopeMeta,
  type EnvelopeSigner,
  type RecipientKeyPair,
} from '../../src/crypto/index.js';

const makeMeta = (overrides: Partial<EnvelopeMeta> = {}): EnvelopeMeta => ({
  id: `msg-${randomBytes(6).toString('hex')}`,
  source: 'hospital-a',
  destination: 'national-telemed',
  purpose: 'TREAT',
  policySha256: 'b'.repeat(64),
  created: '2026-11-26T06:00:00.000Z',
  ...overrides,
});
const PHI = '{"resourceType":"Patient","name":[{"family":"Qureshi","given":["Ayesha"]}],"identifier":[{"value":"35202-1234567-1"}]}';

async function setup() {
  await getSodium();
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  const rcpt = recipientFromSecret(new Uint8Array(randomBytes(32)));
  const receiver = await createReceiver({ recipientKeys: [rcpt], trustedGatewayKeys: [signer] });
  const seal = (over: { meta?: Partial<EnvelopeMeta>; signer?: EnvelopeSigner; recipient?: RecipientKeyPair; seal?: boolean } = {}) =>
    serializeEnvelope(
      sealEnvelope({
        meta: makeMeta(over.meta),
        payload: PHI,
        recipient: over.recipient ?? rcpt,
        signer: over.signer ?? signer,
        seal: over.seal ?? true,
      }),
    );
  return { signer, rcpt, receiver, seal };
}

t.test('a sealed envelope round-trips and its wire form carries no PHI', async (t) => {
  const { receiver, seal } = await setup();
  const body = seal();
  t.notMatch(body, /Qureshi|Ayesha|35202/);
  const r = receiver.open(Buffer.from(body));
  t.ok(r.ok);
  if (r.ok) {
    t.equal(Buffer.from(r.payload).toString(), PHI);
    t.equal(r.sealed, true);
  }
});

t.test('a flipped byte anywhere in the metadata, ciphertext or signature is rejected', async (t) => {
  const { receiver, seal } = await setup();
  const env = JSON.parse(seal());
  const flipB64 = (s: string, at: number) => {
    const b = Buffer.from(s, 'base64');
    b[at % b.length] ^= 0x01;
    return b.toString('base64');
  };
  const cases: Array<[string, (e: any) => void]> = [
    ['meta.destination', (e) => (e.meta.destination = e.meta.destination.replace('n', 'm'))],
    ['meta.purpose', (e) => (e.meta.purpose = 'HRESCH')],
    ['meta.id', (e) => (e.meta.id = e.meta.id + 'x')],
    ['meta added field', (e) => (e.meta.extra = 'x')],
    ['ciphertext first byte', (e) => (e.data = flipB64(e.data, 0))],
    ['ciphertext tag byte', (e) => (e.data = flipB64(e.data, -1 >>> 0))],
    ['nonce', (e) => (e.nonce = flipB64(e.nonce, 3))],
    ['signature', (e) => (e.sig = flipB64(e.sig, 10))],
    ['sender box key', (e) => (e.spk = flipB64(e.spk, 5))],
    ['recipient key id', (e) => (e.rkid = 'f'.repeat(16))],
  ];
  for (const [name, mutate] of cases) {
    const copy = structuredClone(env);
    mutate(copy);
    const r = receiver.open(JSON.stringify(copy));
    t.equal(r.ok, false, `${name} altered → rejected`);
    if (!r.ok) t.ok(r.status >= 400 && r.status < 500 && r.status !== 409, `${name}: status ${r.status} (${r.reason})`);
  }
  // Every single-bit flip in the raw bytes of the body is refused too (sampled positions).
  const body = Buffer.from(seal());
  let accepted = 0;
  for (let i = 0; i < body.length; i += 7) {
    const b = Buffer.from(body);
    b[i] ^= 0x01;
    if (receiver.open(b).ok) accepted++;
  }
  t.equal(accepted, 0, 'no altered body is accepted');
  t.ok(receiver.open(JSON.stringify(env)).ok, 'the untouched envelope still opens afterwards (failures burn no id)');
});

t.test('the same id twice to one receiver is refused as a replay with 409', async (t) => {
  const { receiver, seal } = await setup();
  const body = seal();
  t.ok(receiver.open(body).ok);
  const again = receiver.open(body);
  t.same(again.ok ? null : again.status, 409);
  const sameIdNewEnvelope = seal({ meta: { id: JSON.parse(body).meta.id } });
  const r = receiver.open(sameIdNewEnvelope);
  t.same(r.ok ? null : r.status, 409, 'a fresh envelope reusing the id is a replay too');
});

t.test('an envelope signed by an unknown gateway key is refused with 403', async (t) => {
  const { receiver, seal } = await setup();
  const stranger = signerFromSeed(new Uint8Array(randomBytes(32)));
  const r = receiver.open(seal({ signer: stranger }));
  t.same(r.ok ? null : [r.status, r.reason.includes('not trusted')], [403, true]);
});

t.test('an envelope re-signed by another key but claiming the trusted key id fails the signature check', async (t) => {
  const { receiver, seal, signer } = await setup();
  const stranger = signerFromSeed(new Uint8Array(randomBytes(32)));
  const impostor: EnvelopeSigner = { ...stranger, keyId: signer.keyId };
  const r = receiver.open(seal({ signer: impostor }));
  t.same(r.ok ? null : r.status, 401);
});

t.test('an envelope sealed to another recipient key is refused with 422', async (t) => {
  const { receiver, seal } = await setup();
  const other = recipientFromSecret(new Uint8Array(randomBytes(32)));
  const r = receiver.open(seal({ recipient: other }));
  t.same(r.ok ? null : r.status, 422);
});

t.test('a clear envelope is signed and verified; a receiver that requires sealing refuses it', async (t) => {
  const { receiver, seal, signer, rcpt } = await setup();
  const body = seal({ seal: false });
  t.match(body, /"alg":"none"/);
  const r = receiver.open(body);
  t.ok(r.ok && r.sealed === false && Buffer.from(r.payload).toString() === PHI);
  const strict = await createReceiver({ recipientKeys: [rcpt], trustedGatewayKeys: [signer], requireSealed: true });
  const s = strict.open(seal({ seal: false }));
  t.same(s.ok ? null : s.status, 422);
  const tampered = JSON.parse(seal({ seal: false }));
  tampered.data = Buffer.from('{"changed":true}').toString('base64');
  const x = receiver.open(JSON.stringify(tampered));
  t.same(x.ok ? null : x.status, 401, 'a clear payload cannot be changed without breaking the signature');
});

t.test('bad input to sealEnvelope names the field', async (t) => {
  const { signer, rcpt } = await setup();
  t.throws(() => sealEnvelope({ meta: { ...makeMeta(), id: '' }, payload: 'x', recipient: rcpt, signer, seal: true }), EnvelopeInputError);
  t.throws(() => sealEnvelope({ meta: makeMeta(), payload: 'x', signer, seal: true }), { message: /recipient: required/ });
  t.throws(() => sealEnvelope({ meta: makeMeta(), payload: 'x', recipient: { keyId: 'no pe', publicKey: rcpt.publicKey }, signer, seal: true }), {
    message: /recipient\.keyId/,
  });
  t.throws(() => sealEnvelope({ meta: { ...makeMeta(), n: 5 as unknown as string }, payload: 'x', signer, seal: false }), { message: /meta\.n/ });
});

t.test('malformed bodies get a 400 with a reason and never throw', async (t) => {
  const { receiver, seal } = await setup();
  const good = JSON.parse(seal());
  const bodies = ['', 'not json', '[]', '{"v":2}', JSON.stringify({ ...good, v: 2 }), JSON.stringify({ ...good, extra: 1 }), JSON.stringify({ ...good, sig: 'short' }), JSON.stringify({ ...good, meta: { ...good.meta, id: 5 } })];
  for (const b of bodies) {
    const r = receiver.open(b);
    t.equal(r.ok, false, `refused: ${b.slice(0, 20)}`);
    if (!r.ok) t.equal(r.status, 400, r.reason);
  }
});

t.test('after a signing-key rotation, envelopes sealed under the old key are still accepted during the overlap', async (t) => {
  const dir = t.testdir();
  const keys = await loadOrCreateKeyStore(dir);
  const rcpt = keys.demoRecipient('national-telemed');
  const old = keys.signer();
  const before = sealEnvelope({ meta: makeMeta(), payload: PHI, recipient: rcpt, signer: old, seal: true });
  const rotated = keys.rotateSigningKey();
  t.not(rotated.keyId, old.keyId);
  t.equal(keys.signer().keyId, rotated.keyId, 'the new key signs from now on');
  const after = sealEnvelope({ meta: makeMeta(), payload: PHI, recipient: rcpt, signer: keys.signer(), seal: true });
  const receiver = await createReceiver({ recipientKeys: [rcpt], trustedGatewayKeys: keys.trustedGatewayKeys() });
  t.ok(receiver.open(serializeEnvelope(before)).ok, 'old-key envelope accepted in overlap');
  t.ok(receiver.open(serializeEnvelope(after)).ok, 'new-key envelope accepted');
  keys.removeSigningKey(old.keyId);
  const later = await createReceiver({ recipientKeys: [rcpt], trustedGatewayKeys: keys.trustedGatewayKeys() });
  const r = later.open(serializeEnvelope(sealEnvelope({ meta: makeMeta(), payload: PHI, recipient: rcpt, signer: old, seal: true })));
  t.same(r.ok ? null : r.status, 403, 'after the overlap the old key is no longer trusted');
});

t.test('recipient rotation: a receiver holding old and new recipient keys opens envelopes to either', async (t) => {
  await getSodium();
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  const oldR = recipientFromSecret(new Uint8Array(randomBytes(32)));
  const newR = recipientFromSecret(new Uint8Array(randomBytes(32)));
  const receiver = await createReceiver({ recipientKeys: [oldR], trustedGatewayKeys: [signer] });
  receiver.addRecipientKey(newR);
  for (const r of [oldR, newR]) {
    const res = receiver.open(serializeEnvelope(sealEnvelope({ meta: makeMeta(), payload: 'x', recipient: r, signer, seal: true })));
    t.ok(res.ok, `sealed to ${r.keyId}`);
  }
});

t.test('a receiver given a trust function follows the key store through a rotation and a removal', async (t) => {
  const keys = await loadOrCreateKeyStore(t.testdir());
  const rcpt = keys.demoRecipient('sim');
  let now = 0;
  const receiver = await createReceiver({ recipientKeys: [rcpt], trustedGatewayKeys: () => keys.trustedGatewayKeys(), clock: () => now });
  const old = keys.signer();
  const seal = (signer: EnvelopeSigner) => serializeEnvelope(sealEnvelope({ meta: makeMeta(), payload: 'x', recipient: rcpt, signer, seal: true }));
  t.ok(receiver.open(seal(old)).ok);
  keys.rotateSigningKey();
  t.ok(receiver.open(seal(keys.signer())).ok, 'the new key is picked up at once');
  keys.removeSigningKey(old.keyId);
  now += 61_000;
  const r = receiver.open(seal(old));
  t.same(r.ok ? null : r.status, 403, 'the removed key is dropped at the next refresh');
});

t.test('resolveRecipient uses the configured key, else the demo key, and names bad fields', async (t) => {
  const keys = await loadOrCreateKeyStore(t.testdir());
  const demo = keys.demoRecipient('national-telemed');
  t.same(resolveRecipient({ name: 'national-telemed' }, keys), { keyId: demo.keyId, publicKey: demo.publicKey });
  const pk = Buffer.from(demo.publicKey).toString('base64');
  t.equal(resolveRecipient({ name: 'x', recipientPublicKey: pk }).keyId, demo.keyId);
  t.equal(resolveRecipient({ name: 'x', recipientPublicKey: pk, recipientKeyId: '0123456789abcdef' }).keyId, '0123456789abcdef');
  t.throws(() => resolveRecipient({ name: 'x', recipientPublicKey: 'bad' }), { message: /destinations\.x\.recipientPublicKey/ });
  t.equal(resolveRecipient({ name: 'x', recipientPublicKey: pk, recipientKeyId: 'nhsp-2026:1' }).keyId, 'nhsp-2026:1', 'an upstream-assigned id');
  t.throws(() => resolveRecipient({ name: 'x', recipientPublicKey: pk, recipientKeyId: 'K 1' }), { message: /recipientKeyId/ });
  t.throws(() => resolveRecipient({ name: 'x' }), { message: /not configured/ });
});

t.test('sealAndSerialize gives exactly the canonical form of the envelope, sealed and clear, even with tricky meta', async (t) => {
  const { signer, rcpt } = await setup();
  for (const seal of [true, false]) {
    for (const extra of [{}, { spk: ',"spk":"x"', v: ',"v":1}', zz: 'sig' }]) {
      const { envelope, body } = sealAndSerialize({ meta: { ...makeMeta(), ...extra }, payload: PHI, recipient: rcpt, signer, seal });
      t.equal(body, serializeEnvelope(envelope), `seal=${seal} extra=${Object.keys(extra).join(',') || 'none'}`);
    }
  }
});

t.test('an upstream-assigned recipient key id round-trips when the receiver holds the key under that id', async (t) => {
  const { signer, rcpt } = await setup();
  const receiver = await createReceiver({ recipientKeys: [{ keyId: 'nhsp-2026:1', secretKey: rcpt.secretKey }], trustedGatewayKeys: [signer] });
  const body = serializeEnvelope(sealEnvelope({ meta: makeMeta(), payload: PHI, recipient: { keyId: 'nhsp-2026:1', publicKey: rcpt.publicKey }, signer, seal: true }));
  t.ok(receiver.open(body).ok);
});
