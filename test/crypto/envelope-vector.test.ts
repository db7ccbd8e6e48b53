import t from 'tap';
import { readFileSync } from 'node:fs';
import { createPublicKey, diffieHellman, createPrivateKey, verify } from 'node:crypto';
import { join } from 'node:path';
import { getSodium, signerFromSeed, recipientFromSecret, sealEnvelope, serializeEnvelope, createReceiver } from '../../src/crypto/index.js';

const doc = readFileSync(join(process.cwd(), 'docs', 'envelope.md'), 'utf8');
const block = (label: string) => {
  const m = doc.match(new RegExp('```json ' + label + '\\n([^\\n]+)\\n```'));
  if (!m) throw new Error(`docs/envelope.md has no ${label} block`);
  return m[1];
};
const seq = (start: number, n: number) => Uint8Array.from({ length: n }, (_, i) => start + i);
const meta = {
  id: 'msg-0001',
  source: 'hospital-a',
  destination: 'national-telemed',
  purpose: 'TREAT',
  policySha256: 'a'.repeat(64),
  created: '2026-11-26T00:00:00.000Z',
  contentType: 'application/fhir+json',
};
const payload = '{"resourceType":"Patient","id":"example"}';

t.test('the sealed test vector in docs/envelope.md is reproduced byte for byte', async (t) => {
  await getSodium();
  const signer = signerFromSeed(seq(0, 32));
  const rcpt = recipientFromSecret(seq(0x20, 32));
  const env = sealEnvelope({ meta, payload, recipient: { keyId: rcpt.keyId, publicKey: rcpt.publicKey }, signer, seal: true, nonce: seq(0x40, 24) });
  t.equal(serializeEnvelope(env), block('vector-sealed'));
});

t.test('the clear test vector in docs/envelope.md is reproduced byte for byte', async (t) => {
  await getSodium();
  const signer = signerFromSeed(seq(0, 32));
  const env = sealEnvelope({ meta: { ...meta, id: 'msg-0002' }, payload, signer, seal: false });
  t.equal(serializeEnvelope(env), block('vector-clear'));
});

t.test('the sealed vector opens by the spec alone, with an independent implementation', async (t) => {
  const s = await getSodium();
  const env = JSON.parse(block('vector-sealed'));
  // Ed25519 verify with node:crypto (OpenSSL), public key from the seed via an SPKI wrapper.
  const signerPk = Buffer.from('A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=', 'base64');
  const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), signerPk]), format: 'der', type: 'spki' });
  const { sig, ...unsigned } = env;
  const sortedJson = (v: unknown): string =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`).join(',')}}`
      : JSON.stringify(v);
  const input = Buffer.from('darwaza-envelope-v1\n' + sortedJson(unsigned), 'utf8');
  t.ok(verify(null, input, pub, Buffer.from(sig, 'base64')), 'signature verifies with node:crypto');
  // X25519 with node:crypto, then HSalsa20 = crypto_box_beforenm.
  const rsk = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(seq(0x20, 32))]), format: 'der', type: 'pkcs8' });
  const spk = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(env.spk, 'base64')]), format: 'der', type: 'spki' });
  const dh = diffieHellman({ privateKey: rsk, publicKey: spk });
  const hsalsa20 = (s as unknown as { crypto_core_hsalsa20: (input: Uint8Array, key: Uint8Array, c: null) => Uint8Array }).crypto_core_hsalsa20;
  const k = hsalsa20(new Uint8Array(16), dh, null);
  t.equal(Buffer.from(k).toString('hex'), 'f7242f0f7494d9f00dca6cd00074889d9fd947dd4afa5ffbb5371421f3c5fb7d');
  const { data: _d, sig: _s, ...header } = env;
  const plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, Buffer.from(env.data, 'base64'), Buffer.from(sortedJson(header)), Buffer.from(env.nonce, 'base64'), k);
  t.equal(Buffer.from(plain).toString('utf8'), payload);
});

t.test('the reference receiver opens the vector and returns its payload and meta', async (t) => {
  const receiver = await createReceiver({
    recipientKeys: [{ secretKey: seq(0x20, 32) }],
    trustedGatewayKeys: [{ publicKey: 'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=' }],
  });
  const r = receiver.open(block('vector-sealed'));
  t.ok(r.ok);
  if (r.ok) {
    t.equal(Buffer.from(r.payload).toString(), payload);
    t.same(r.meta, meta);
    t.equal(r.signerKeyId, '56475aa75463474c');
  }
});
