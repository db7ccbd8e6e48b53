import t from 'tap';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { captureIo } from '../helpers/cli.js';
import { command as certs } from '../../src/cli/commands/certs.js';
import { clientName, lanTlsOptions } from '../../src/pki/index.js';

function get(port: number, opts: https.AgentOptions): Promise<string> {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', servername: 'localhost', port, path: '/', agent: new https.Agent({ ...opts, maxCachedSessions: 0 }) }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
    req.end();
  });
}

/** A CSR made by the LAN system itself with node-forge: its private key stays with the test (the "system"). */
function forgeCsr(cn: string) {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = keys.publicKey;
  csr.setSubject([{ name: 'commonName', value: cn }]);
  csr.sign(keys.privateKey, forge.md.sha256.create());
  return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

t.test('finding: issued LAN client keys were kept in certs/clients — certs issue --csr signs a CSR, the key never exists on the appliance, and the LAN mTLS listener accepts the certificate', async (t) => {
  const root = t.testdir({ system: {} });
  const run = async (...args: string[]) => {
    const io = captureIo({ cwd: root });
    const code = await certs.run([...args, '--certs-dir', 'certs'], io.io);
    return { code, ...io };
  };
  t.equal((await run('init')).code, 0);
  t.equal((await run('issue', '--server', 'localhost')).code, 0);

  // One system enrols with a node-forge CSR, another with openssl's.
  const a = forgeCsr('lab-system');
  writeFileSync(join(root, 'system', 'lab.csr'), a.csrPem);
  const bKey = join(root, 'system', 'ris.key');
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', bKey, '-subj', '/CN=ris-system/O=radiology', '-out', join(root, 'system', 'ris.csr')], { stdio: 'ignore' });

  const issuedA = await run('issue', '--csr', join('system', 'lab.csr'), '--days', '90');
  t.equal(issuedA.code, 0, issuedA.err.join('\n'));
  t.match(issuedA.out[0], /issued client certificate "lab-system"/);
  const issuedB = await run('issue', '--csr', join('system', 'ris.csr'));
  t.equal(issuedB.code, 0, issuedB.err.join('\n'));
  t.same(readdirSync(join(root, 'certs', 'clients')).sort(), ['lab-system.crt', 'lab-system.csr', 'ris-system.crt', 'ris-system.csr'], 'certs/clients holds certificates and requests, no private key');

  const server = https.createServer(lanTlsOptions(join(root, 'certs')), (req, res) => res.end(`hello ${clientName(req.socket as TLSSocket) ?? '?'}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const ca = readFileSync(join(root, 'certs', 'ca.crt'));
  const cert = (n: string) => readFileSync(join(root, 'certs', 'clients', `${n}.crt`));
  t.equal(await get(port, { ca, key: a.keyPem, cert: cert('lab-system') }), 'hello lab-system', 'the forge-made key with its issued certificate is accepted by the LAN mTLS listener');
  t.equal(await get(port, { ca, key: readFileSync(bKey), cert: cert('ris-system') }), 'hello ris-system', 'and the openssl-made one');
  t.match(await get(port, { ca }), /^refused/, 'a client without a certificate is still refused');

  // A request whose signature does not match its key is refused (no proof of possession).
  const tampered = forge.pki.certificationRequestFromPem(forgeCsr('mallory').csrPem);
  tampered.publicKey = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 }).publicKey;
  (tampered as { certificationRequestInfo?: unknown }).certificationRequestInfo = undefined; // serialise the swapped key, not the parsed original
  writeFileSync(join(root, 'system', 'bad.csr'), forge.pki.certificationRequestToPem(tampered));
  const bad = await run('issue', '--csr', join('system', 'bad.csr'));
  t.equal(bad.code, 1);
  t.match(bad.err.join('\n'), /signature does not verify/);
  await t.rejects(run('issue', 'name', '--csr', join('system', 'lab.csr')), { name: 'UsageError' });
});

t.test('certs issue without a CSR is demo only: it says so, and keeps no private key or .p12 in certs/clients', async (t) => {
  const root = t.testdir();
  const run = async (...args: string[]) => {
    const io = captureIo({ cwd: root });
    const code = await certs.run([...args, '--certs-dir', 'certs'], io.io);
    return { code, ...io };
  };
  t.equal((await run('init')).code, 0);
  const printed = await run('issue', 'demo-a');
  t.equal(printed.code, 0);
  t.match(printed.err.join('\n'), /DEMO ONLY/, 'a loud warning');
  t.match(printed.out.join('\n'), /BEGIN RSA PRIVATE KEY[\s\S]*BEGIN CERTIFICATE/, 'without --out: key and certificate on stdout');
  const toDir = await run('issue', 'demo-b', '--out', 'handover');
  t.equal(toDir.code, 0);
  t.same(readdirSync(join(root, 'handover')).sort(), ['demo-b.key', 'demo-b.p12', 'demo-b.p12.pass'], 'with --out: key and .p12 where the operator asked');
  t.same(readdirSync(join(root, 'certs', 'clients')).sort(), ['demo-a.crt', 'demo-a.csr', 'demo-b.crt', 'demo-b.csr'], 'certs/clients keeps no private key or .p12');
});
