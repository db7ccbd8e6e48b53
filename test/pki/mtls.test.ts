import t from 'tap';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  initCa,
  issueCertificate,
  revokeCertificate,
  lanTlsOptions,
  clientName,
  watchLanTls,
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
