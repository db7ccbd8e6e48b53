import t from 'tap';
import tls from 'node:tls';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import forge from 'node-forge';
import Database from 'better-sqlite3';
import { startMllpServer, MllpFramer, frame } from '../../../src/ingress/mllp/index.js';
import { parseHl7 } from '../../../src/hl7v2/index.js';
import { openSqliteAccept } from '../../fixtures/hl7v2/sqlite-accept.js';
import { loadHl7 } from '../../fixtures/hl7v2/load.js';

/** A throwaway CA and leaf certificates (the gateway's PKI lives elsewhere; this is only for the test). */
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
      for (const e of f.push(d)) if (e.kind === 'frame') {
        resolve(e.payload.toString());
        s.destroy();
      }
    });
    s.on('error', () => resolve(null));
    s.on('close', () => resolve(null));
  });
}

t.test('over TLS with client certificates the client CN becomes the source; no certificate, no connection', async (t) => {
  const caK = keyPair();
  const caPem = cert('darwaza test CA', caK.pub, caK.key, null, '01', { ca: true });
  const caCert = forge.pki.certificateFromPem(caPem);
  const srvK = keyPair();
  const srvPem = cert('127.0.0.1', srvK.pub, caK.key, caCert.subject.attributes, '02', { server: true });
  const cliK = keyPair();
  const cliPem = cert('lab-analyzer-7', cliK.pub, caK.key, caCert.subject.attributes, '03', {});

  const file = join(t.testdir(), 'gateway.db');
  const acc = openSqliteAccept(file);
  const server = await startMllpServer({
    host: '127.0.0.1',
    port: 0,
    accept: acc.accept,
    maxFrameBytes: 1 << 20,
    idleTimeoutMs: 10_000,
    tls: { key: srvK.keyPem, cert: srvPem, ca: caPem, requestCert: true, rejectUnauthorized: true },
  });
  t.teardown(async () => {
    await server.close();
    acc.close();
  });

  const ack = await exchange(server.port, caPem, { key: cliK.keyPem, cert: cliPem }, loadHl7('adt-a03-discharge.hl7'));
  t.ok(ack);
  t.equal(parseHl7(ack!).segment('MSA')!.value(1), 'AA');
  const db = new Database(file, { readonly: true });
  t.equal((db.prepare('SELECT source FROM hl7test_messages').get() as { source: string }).source, 'lab-analyzer-7');
  db.close();

  const refused = await exchange(server.port, caPem, null, loadHl7('adt-a08-update.hl7'));
  t.equal(refused, null, 'a client without a certificate gets no ACK');
  t.equal(acc.count(), 1);
  const again = await exchange(server.port, caPem, { key: cliK.keyPem, cert: cliPem }, loadHl7('adt-a08-update.hl7'));
  t.equal(parseHl7(again!).segment('MSA')!.value(1), 'AA', 'the listener is still alive');
});
