import t from 'tap';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  initCa,
  issueCertificate,
  revokeCertificate,
  lanTlsOptions,
  clientName,
  uplinkTlsOptions,
  spkiSha256,
  certificateStatus,
  createUplinkCsr,
  crlNextUpdate,
  watchLanTls,
  PkiError,
} from '../../src/pki/index.js';

const DAY = 86_400_000;
const bits = { keyBits: 2048 };

type Outcome = { ok: true; status: number; body: string } | { ok: false; error: string };

function get(port: number, agentOptions: https.AgentOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', servername: 'localhost', port, path: '/', method: 'GET', agent: new https.Agent({ ...agentOptions, maxCachedSessions: 0 }) },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0, body }));
        res.on('error', (e) => resolve({ ok: false, error: e.message }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code ?? e.message }));
    req.end();
  });
}

t.test('LAN mTLS: only unexpired, unrevoked certificates from our CA are accepted, with their name', async (t) => {
  const root = t.testdir();
  const dir = join(root, 'ours');
  const other = join(root, 'other');
  initCa(dir, bits);
  initCa(other, { ...bits, organization: 'elsewhere' });
  issueCertificate(dir, 'localhost', { ...bits, server: true });
  const good = issueCertificate(dir, 'lab-system', bits);
  const expired = issueCertificate(dir, 'old-ehr', { ...bits, now: new Date(Date.now() - 400 * DAY), days: 30 });
  const revoked = issueCertificate(dir, 'stolen-laptop', bits);
  const foreign = issueCertificate(other, 'lab-system', bits);
  revokeCertificate(dir, 'stolen-laptop');

  const server = https.createServer(lanTlsOptions(dir), (req, res) => {
    res.end(`hello ${clientName(req.socket as import('node:tls').TLSSocket) ?? '?'}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const ca = readFileSync(join(dir, 'ca.crt'));
  const withCert = (c: { keyFile: string; certFile: string }) => ({ ca, key: readFileSync(c.keyFile), cert: readFileSync(c.certFile) });

  const ok = await get(port, withCert(good));
  t.same(ok, { ok: true, status: 200, body: 'hello lab-system' }, 'our client is accepted and named');
  for (const [label, opts] of [
    ['no certificate', { ca }],
    ['expired certificate', withCert(expired)],
    ['revoked certificate', withCert(revoked)],
    ['certificate from another CA', withCert(foreign)],
  ] as const) {
    const r = await get(port, opts);
    t.equal(r.ok, false, `${label} → refused at the TLS layer`);
  }
  // The same options with rejectUnauthorized off tell us OpenSSL's reason for each refusal.
  const probe = https.createServer({ ...lanTlsOptions(dir), rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as import('node:tls').TLSSocket;
    res.end(String(sock.authorized ? 'authorized' : sock.authorizationError));
  });
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const probePort = (probe.address() as AddressInfo).port;
  const reasons: Record<string, string> = {};
  for (const [label, c] of [['expired', expired], ['revoked', revoked], ['foreign', foreign], ['good', good]] as const) {
    const r = await get(probePort, withCert(c));
    reasons[label] = r.ok ? r.body : r.error;
  }
  await new Promise<void>((r) => probe.close(() => r()));
  t.same(reasons, { expired: 'CERT_HAS_EXPIRED', revoked: 'CERT_REVOKED', foreign: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', good: 'authorized' }, 'each refusal has its own reason');
  // Revoking a live client takes effect when the watcher sees the new CRL.
  const watcher = watchLanTls(server, dir);
  t.teardown(() => watcher.stop());
  t.equal(watcher.check(), false, 'nothing changed yet');
  revokeCertificate(dir, good.serial.toUpperCase());
  t.equal(watcher.check(), true, 'the new CRL is loaded');
  t.equal((await get(port, withCert(good))).ok, false, 'revoked by serial, then refused on the live server');
});

t.test('uplink TLS: the CA bundle and the SPKI pin are both enforced', async (t) => {
  const dir = t.testdir();
  initCa(dir, bits);
  const srv = issueCertificate(dir, 'localhost', { ...bits, server: true });
  const client = issueCertificate(dir, 'gateway-uplink', bits);
  const server = https.createServer(lanTlsOptions(dir), (req, res) => res.end(clientName(req.socket as import('node:tls').TLSSocket) ?? ''));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const pin = spkiSha256(readFileSync(srv.certFile));
  const base = { ca: join(dir, 'ca.crt'), cert: client.certFile, key: client.keyFile };

  t.same(await get(port, uplinkTlsOptions({ ...base, pinSha256: [pin] })), { ok: true, status: 200, body: 'gateway-uplink' });
  t.same(await get(port, uplinkTlsOptions({ ...base, pinSha256: [Buffer.alloc(32, 1).toString('base64'), pin] })), {
    ok: true,
    status: 200,
    body: 'gateway-uplink',
  }, 'any pin of the list matches (rotation)');
  const wrong = await get(port, uplinkTlsOptions({ ...base, pinSha256: [Buffer.alloc(32, 1).toString('base64')] }));
  t.same(wrong, { ok: false, error: 'ERR_TLS_PIN_MISMATCH' });
  const noCa = await get(port, uplinkTlsOptions({ cert: client.certFile, key: client.keyFile, pinSha256: [pin] }));
  t.equal(noCa.ok, false, 'a pin does not replace chain verification');
  t.throws(() => uplinkTlsOptions({ cert: client.certFile }), PkiError);
  t.throws(() => uplinkTlsOptions({ pinSha256: ['abc'] }), { message: /pinSha256/ });
  const opts = uplinkTlsOptions(base);
  t.equal(opts.minVersion, 'TLSv1.2');
  t.equal(opts.rejectUnauthorized, true);
});

t.test('certificate files: keys 0600, a PKCS#12 bundle OpenSSL can open, never overwritten', async (t) => {
  const dir = t.testdir();
  t.equal(initCa(dir, bits), true);
  t.equal(initCa(dir, bits), false, 'init is idempotent');
  const c = issueCertificate(dir, 'ris', bits);
  t.equal(statSync(c.keyFile).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
  const pass = readFileSync(c.p12PasswordFile as string, 'utf8').trim();
  t.doesNotThrow(() => createSecureContext({ pfx: readFileSync(c.p12File as string), passphrase: pass }), 'OpenSSL reads the .p12');
  t.throws(() => issueCertificate(dir, 'ris', bits), { message: /already exists/ });
  t.throws(() => issueCertificate(dir, '../evil', bits), { message: /client name/ });
  t.throws(() => revokeCertificate(dir, 'nobody'), { message: /no unrevoked certificate/ });
  const csr = createUplinkCsr(dir, { ...bits, commonName: 'hospital-a-gateway', organization: 'Hospital A' });
  t.match(csr.csrPem, /BEGIN CERTIFICATE REQUEST/);
  t.throws(() => createUplinkCsr(dir, { ...bits, commonName: 'again' }), { message: /already exists/ });
});

t.test('certificateStatus lists each certificate with days left; the CRL is renewed before it lapses', async (t) => {
  const dir = t.testdir();
  const now = new Date('2026-11-26T00:00:00Z');
  initCa(dir, { ...bits, now });
  issueCertificate(dir, 'localhost', { ...bits, server: true, now, days: 20 });
  issueCertificate(dir, 'lab', { ...bits, now, days: 365 });
  const status = certificateStatus(dir, now);
  t.same(
    status.map((s) => [s.name, s.kind, s.daysLeft]),
    [
      ['ca', 'ca', 3650],
      ['server', 'server', 20],
      ['lab', 'client', 365],
    ],
  );
  t.ok(status.every((s) => !s.revoked));
  revokeCertificate(dir, 'lab', { now });
  t.equal(certificateStatus(dir, now).find((s) => s.name === 'lab')?.revoked, true);
  const crl = readFileSync(join(dir, 'crl.pem'), 'utf8');
  t.equal(crlNextUpdate(crl)?.toISOString(), '2026-12-26T00:00:00.000Z');
  const later = new Date('2026-12-22T00:00:00Z');
  const opts = lanTlsOptions(dir, { now: later });
  t.ok((crlNextUpdate(opts.crl) as Date).getTime() > later.getTime() + 20 * DAY, 'lanTlsOptions re-signed a CRL close to its nextUpdate');
});
