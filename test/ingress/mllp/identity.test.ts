/**
 * Who sent an HL7 v2 message, over real MLLP sockets (plain on loopback, and TLS with real
 * client certificates): the authenticated identity is the source, MSH-3/4 only a claim;
 * senders without the role get AR and a security event; break-glass needs the grant and a
 * reason; refused handshakes are reported.
 */
import t, { type Test as Tap } from 'tap';
import tls from 'node:tls';
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { startMllpServer, MllpFramer, frame, type MllpAcceptInput, type MllpEvent } from '../../../src/ingress/mllp/index.js';
import { emptyAccess, identityFromCertificate, identityFromMllpPeer, type AccessConfig } from '../../../src/auth/index.js';
import { parseHl7 } from '../../../src/hl7v2/index.js';
import { sendOnce } from '../../fixtures/hl7v2/mllp-client.js';
import { loadHl7, withControlId } from '../../fixtures/hl7v2/load.js';

const ADT = loadHl7('adt-a03-discharge.hl7');
const msa = (ack: string) => parseHl7(ack).segment('MSA')!.value(1);
const withZbg = (text: string, purpose: string, reason?: string) => `${text.replace(/\r+$/, '')}\rZBG|${purpose}${reason === undefined ? '' : `|${reason}`}`;

async function server(t: Tap, access: AccessConfig, extra: { tls?: tls.TlsOptions } = {}) {
  const inputs: MllpAcceptInput[] = [];
  const events: MllpEvent[] = [];
  let n = 0;
  const s = await startMllpServer({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 1 << 20,
    idleTimeoutMs: 10_000,
    ...extra,
    accept: async (input) => {
      inputs.push(input);
      return { kind: 'accepted', messageId: `msg-${++n}` };
    },
    identify: (p) => (p.tls ? (p.names ? identityFromCertificate(p.names, access) : { ok: false, reason: 'no certificate' }) : identityFromMllpPeer(p.ip, access)),
    observer: (e) => events.push(e),
  });
  t.teardown(() => s.close());
  return { port: s.port, inputs, events };
}

const access = (patch: Partial<AccessConfig>): AccessConfig => ({ ...emptyAccess(), ...patch });

t.test('finding: the source can be spoofed on MLLP — the identity is the source, MSH-3/4 only the claimed source', async (t) => {
  const s = await server(t, access({ loopback: { roles: ['sender'], grants: [] } }));
  const [ack] = await sendOnce(s.port, ADT);
  t.equal(msa(ack), 'AA');
  t.equal(s.inputs[0].source, 'loopback', 'the loopback identity is the source, not SHIFA_HIS|SHIFA_ISB');
  t.equal(s.inputs[0].claimedSource, 'SHIFA_HIS|SHIFA_ISB', 'MSH-3|MSH-4 is recorded as the claimed source');
  t.equal(s.inputs[0].plain, true, 'a plain connection is marked');
  t.match(s.inputs[0].idempotencyKey, /^hl7v2\|loopback\|SHIFA_HIS\|SHIFA_ISB\|/, 'the idempotency key is scoped to the identity, so one sender cannot pre-empt another');

  const engine = await server(t, access({ loopback: { roles: ['sender'], grants: ['integration-engine'] } }));
  await sendOnce(engine.port, ADT);
  t.equal(engine.inputs[0].source, 'SHIFA_HIS|SHIFA_ISB', 'an integration engine has MSH-3|MSH-4 honoured');
  t.equal(engine.inputs[0].claimedSource, undefined);
});

t.test('finding: an unknown peer or an identity without the sender role gets AR and an access-denied event', async (t) => {
  const none = await server(t, access({}));
  const [ack] = await sendOnce(none.port, ADT);
  t.equal(msa(ack), 'AR', 'no access.loopback: the loopback peer is not a sender');
  t.equal(none.inputs.length, 0, 'nothing reached the pipeline');
  const denied = none.events.find((e) => e.kind === 'access-denied');
  t.match(denied, { kind: 'access-denied', action: 'hl7v2.submit', peer: /127\.0\.0\.1/, plain: true });

  const consentOnly = await server(t, access({ loopback: { roles: ['consent-writer'], grants: [] } }));
  const [ar] = await sendOnce(consentOnly.port, ADT);
  t.equal(msa(ar), 'AR');
  t.match(parseHl7(ar).segment('MSA')!.value(3) + (parseHl7(ar).segment('ERR')?.rawField(8) ?? ''), /sender/, 'the AR says which role was missing');
  t.match(consentOnly.events.find((e) => e.kind === 'access-denied'), { actor: 'loopback', action: 'hl7v2.submit' });
});

t.test('finding: break glass on MLLP needs the break-glass grant and a reason in ZBG-2, and each use is reported', async (t) => {
  const plainSender = await server(t, access({ loopback: { roles: ['sender'], grants: [] } }));
  const [noGrant] = await sendOnce(plainSender.port, withZbg(ADT, 'ETREAT', 'unconscious patient in ER'));
  t.equal(msa(noGrant), 'AR', 'ETREAT without the grant is refused');
  t.match(plainSender.events.find((e) => e.kind === 'access-denied'), { action: 'purpose.etreat' });

  const s = await server(t, access({ loopback: { roles: ['sender'], grants: ['break-glass'] } }));
  const [noReason] = await sendOnce(s.port, withZbg(withControlId(ADT, 'BG-1'), 'ETREAT'));
  t.equal(msa(noReason), 'AR', 'ETREAT without a reason is refused');
  t.match(s.events.find((e) => e.kind === 'access-denied'), { reason: /ZBG-2/ });

  const [ok] = await sendOnce(s.port, withZbg(withControlId(ADT, 'BG-2'), 'ETREAT', 'unconscious patient bed 12'));
  t.equal(msa(ok), 'AA');
  t.same(s.inputs.at(-1)!.breakGlass, { reason: 'unconscious patient bed 12' }, 'the accept call carries the break-glass request');
  t.match(s.events.find((e) => e.kind === 'break-glass'), { kind: 'break-glass', actor: 'loopback', messageId: 'msg-1', reasonText: 'unconscious patient bed 12' });

  await sendOnce(s.port, withControlId(ADT, 'BG-3'));
  t.equal(s.inputs.at(-1)!.breakGlass, undefined, 'a message without ZBG is not break-glass');
  t.equal(s.events.filter((e) => e.kind === 'break-glass').length, 1, 'one use, one event');
});

/** A throwaway CA and leaf certificates. */
function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { keyPem, key: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, pub: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) };
}
function cert(cn: string, pub: forge.pki.PublicKey, signer: forge.pki.rsa.PrivateKey, issuer: forge.pki.CertificateField[] | null, serial: string, opts: { ca?: boolean; server?: boolean }) {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = serial;
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  const subject = [{ name: 'commonName', value: cn }];
  c.setSubject(subject);
  c.setIssuer(issuer ?? subject);
  const ext: any[] = [{ name: 'basicConstraints', cA: !!opts.ca }];
  if (opts.server) ext.push({ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] });
  if (!opts.ca) ext.push({ name: 'extKeyUsage', serverAuth: !!opts.server, clientAuth: !opts.server });
  else ext.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true });
  c.setExtensions(ext);
  c.sign(signer, forge.md.sha256.create());
  return forge.pki.certificateToPem(c);
}
function exchange(port: number, ca: string, client: { key: string; cert: string } | null, text: string): Promise<string | null> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, ...(client ?? {}) }, () => s.write(frame(text)));
    const f = new MllpFramer({ maxFrameBytes: 1 << 20 });
    s.on('data', (d) => {
      for (const e of f.push(d))
        if (e.kind === 'frame') {
          resolve(e.payload.toString());
          s.destroy();
        }
    });
    s.on('error', () => resolve(null));
    s.on('close', () => resolve(null));
  });
}

t.test('over MLLP/TLS the certificate name is the identity; a certificate without roles gets AR; a refused handshake is reported', async (t) => {
  const caK = keyPair();
  const caPem = cert('darwaza test CA', caK.pub, caK.key, null, '01', { ca: true });
  const caCert = forge.pki.certificateFromPem(caPem);
  const srvK = keyPair();
  const srvPem = cert('127.0.0.1', srvK.pub, caK.key, caCert.subject.attributes, '02', { server: true });
  const labK = keyPair();
  const labPem = cert('lab-analyzer-7', labK.pub, caK.key, caCert.subject.attributes, '03', {});
  const otherK = keyPair();
  const otherPem = cert('visitor-laptop', otherK.pub, caK.key, caCert.subject.attributes, '04', {});

  const s = await server(t, access({ clients: { 'lab-analyzer-7': { roles: ['sender'], grants: [] } } }), {
    tls: { key: srvK.keyPem, cert: srvPem, ca: caPem, requestCert: true, rejectUnauthorized: true },
  });
  const ack = await exchange(s.port, caPem, { key: labK.keyPem, cert: labPem }, ADT);
  t.equal(msa(ack!), 'AA');
  t.equal(s.inputs[0].source, 'lab-analyzer-7', 'the certificate name is the source');
  t.equal(s.inputs[0].claimedSource, 'SHIFA_HIS|SHIFA_ISB');
  t.equal(s.inputs[0].plain, undefined, 'TLS is not plain');

  const ar = await exchange(s.port, caPem, { key: otherK.keyPem, cert: otherPem }, withControlId(ADT, 'V-1'));
  t.equal(msa(ar!), 'AR', 'a certificate from our CA that is not in access.clients has no role');
  t.match(s.events.find((e) => e.kind === 'access-denied'), { actor: 'visitor-laptop', action: 'hl7v2.submit', plain: false });

  const none = await exchange(s.port, caPem, null, withControlId(ADT, 'V-2'));
  t.equal(none, null, 'no certificate: no connection');
  for (let i = 0; i < 50 && !s.events.some((e) => e.kind === 'tls-refused'); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(s.events.find((e) => e.kind === 'tls-refused'), { kind: 'tls-refused', peer: /127\.0\.0\.1/, reason: /\S/ }, 'the refused handshake is reported with the peer');
});
