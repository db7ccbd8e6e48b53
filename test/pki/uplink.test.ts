import t from 'tap';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  initCa,
  issueCertificate,
  lanTlsOptions,
  clientName,
  uplinkTlsOptions,
  spkiSha256,
  PkiError,
} from '../../src/pki/index.js';

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
