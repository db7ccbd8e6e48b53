/**
 * Issue 6's LAN mutual TLS through the real gateway (a child process, real sockets):
 * with lan.tls on and plain HTTP off, only certificates from our CA that are neither
 * expired nor revoked get through the handshake, on the HTTPS API and on MLLP; the
 * certificate's name becomes the message's source.
 */
import t, { type Test as Tap } from 'tap';
import https from 'node:https';
import tls from 'node:tls';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { join } from 'node:path';
import { prepareDir, runCli, startGatewayProcess, waitDelivered, waitFor } from '../helpers/processes.js';
import { packAgreesWithConfig } from '../helpers/pack.js';
import { freePort } from '../helpers/net.js';
import { initCa, issueCertificate } from '../../src/pki/index.js';
import { frame, MllpFramer } from '../../src/ingress/mllp/index.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const DAY = 86_400_000;
const { pki } = forge;

interface Creds {
  ca: Buffer;
  key?: Buffer;
  cert?: Buffer;
}

type Outcome = { ok: true; status: number; body: string } | { ok: false; error: string };

/** One HTTPS request with its own agent (no TLS session reuse between identities). */
function request(port: number, creds: Creds, method: string, path: string, body?: unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' },
        agent: new https.Agent({ ...creds, maxCachedSessions: 0, keepAlive: false }),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0, body: text }));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code ?? e.message }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code ?? e.message }));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** One HL7 v2 message over MLLP in TLS: the ACK, or the error that ended the connection. */
function mllpOverTls(port: number, creds: Creds, text: string): Promise<{ ack?: string; error?: string; authorized?: boolean }> {
  return new Promise((resolve) => {
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
    let done = false;
    const finish = (r: { ack?: string; error?: string }) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(r);
    };
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...creds }, () => socket.write(frame(text)));
    socket.on('data', (d) => {
      for (const e of framer.push(d)) if (e.kind === 'frame') finish({ ack: e.payload.toString('utf8') });
    });
    socket.on('error', (e: NodeJS.ErrnoException) => finish({ error: e.code ?? e.message }));
    socket.on('close', () => finish({ error: 'closed without an ACK' }));
    socket.setTimeout(10_000, () => finish({ error: 'timeout' }));
  });
}

const ADT_A04 = [
  'MSH|^~\\&|LAB_HIS|LAHORE_GEN|DARWAZA|PK_TELEMED|20261126083000+0500||ADT^A04^ADT_A01|LAB-0001|P|2.5.1|||AL|NE',
  'EVN|A04|20261126083000+0500',
  'PID|1||MRN-445566^^^LAHORE_GEN^MR||Khan^Ayesha||19850704|F',
  'PV1|1|O',
].join('\r');

t.test('LAN mTLS on the real gateway: no, expired, revoked or foreign certificates are refused at the handshake; a good one is accepted and named as source, on HTTPS and MLLP', async (t) => {
  const started = Date.now();
  const root = t.testdir();
  const dir = join(root, 'gw');
  const { ports, configFile } = await prepareDir(dir, (c) => {
    c.lan = { tls: true, allowPlainHttp: false };
    // The certificate's name holds the roles it uses below (HL7 v2 and FHIR submit, consents).
    c.access = { ...c.access, clients: { 'lab-system': { roles: ['sender', 'consent-writer'] } } };
  });
  const certs = join(dir, 'certs');
  const cli = (...args: string[]) => {
    const r = runCli(['certs', ...args], { cwd: dir });
    t.equal(r.code, 0, `darwaza certs ${args.join(' ')} ${r.stderr}`);
    return r;
  };
  cli('init', '--config', configFile);
  cli('issue', '--server', 'localhost', '--config', configFile);
  // Demo issuing keeps no client key on the appliance: the key and .p12 go where the operator says.
  const handover = join(root, 'handover');
  cli('issue', 'lab-system', '--out', handover, '--config', configFile);
  cli('issue', 'stolen-laptop', '--out', handover, '--config', configFile);
  cli('revoke', 'stolen-laptop', '--config', configFile);
  cli('issue', 'lab-ehr-soon', '--days', '10', '--config', configFile);
  // `certs issue` has --days but no clock: an expired certificate comes from the library with a clock in the past.
  issueCertificate(certs, 'old-ehr', { now: new Date(Date.now() - 400 * DAY), days: 30 });
  // Another hospital's CA, with a client of the same name as ours (the library: the CLI path is shown above).
  const other = join(root, 'other-ca');
  initCa(other, { organization: 'elsewhere' });
  issueCertificate(other, 'lab-system');
  const listed = JSON.parse(cli('list', '--json', '--config', configFile).stdout) as { name: string; revoked: boolean; daysLeft: number }[];
  t.ok(listed.find((c) => c.name === 'stolen-laptop')?.revoked, 'certs list shows the revocation');
  t.ok((listed.find((c) => c.name === 'old-ehr')?.daysLeft ?? 0) < 0, 'and the expired certificate');

  t.comment(`PKI ready after ${Date.now() - started} ms`);
  const gw = await startGatewayProcess(dir);
  t.comment(`gateway up after ${Date.now() - started} ms`);
  t.teardown(() => gw.kill());

  // Certificate expiry: a metric, and a warning from 30 days ahead.
  const metrics = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text();
  t.match(metrics, /darwaza_certificate_days_left\{certificate="lab-ehr-soon"\} (9|10)\b/, 'days left are a metric');
  t.match(metrics, /darwaza_certificate_days_left\{certificate="old-ehr"\} -\d+/, 'an expired certificate shows negative days');
  const warnings = gw.output().split('\n').filter((l) => /"level":40/.test(l) && /certificate/.test(l));
  t.ok(warnings.some((l) => /"certificate":"lab-ehr-soon"/.test(l) && /expires within 30 days/.test(l)), 'the gateway warns of a certificate that expires within 30 days');
  t.ok(warnings.some((l) => /"certificate":"old-ehr"/.test(l) && /has expired/.test(l)), 'and of one that has expired');
  t.notOk(warnings.some((l) => /"certificate":"(lab-system|stolen-laptop|ca|server)"/.test(l)), 'but not of valid or revoked ones');

  const ca = readFileSync(join(certs, 'ca.crt'));
  const keyOf = (d: string, name: string) => (existsSync(join(handover, `${name}.key`)) && d === certs ? join(handover, `${name}.key`) : join(d, 'clients', `${name}.key`));
  const client = (d: string, name: string): Creds => ({ ca, key: readFileSync(keyOf(d, name)), cert: readFileSync(join(d, 'clients', `${name}.crt`)) });
  t.ok(existsSync(join(handover, 'lab-system.p12')), 'a PKCS#12 bundle is made for systems that need one');
  const good = client(certs, 'lab-system');

  // Plain HTTP is not served at all.
  const plain = await fetch(`http://127.0.0.1:${ports.lan}/metadata`).then((r) => `HTTP ${r.status}`, (e) => `refused (${e.cause?.code ?? e.message})`);
  t.match(plain, /^refused/, `plain HTTP to the LAN port gets no HTTP answer: ${plain}`);

  const bad: [string, Creds][] = [
    ['no certificate', { ca }],
    ['an expired certificate', client(certs, 'old-ehr')],
    ['a revoked certificate', client(certs, 'stolen-laptop')],
    ["another CA's certificate", client(other, 'lab-system')],
  ];
  for (const [label, creds] of bad) {
    const r = await request(ports.lan, creds, 'POST', '/fhir/Observation', observation('p-mtls', 1));
    t.equal(r.ok, false, `${label}: refused — no HTTP status comes back (${r.ok ? r.status : r.error})`);
    if (!r.ok) t.match(r.error, /SSL|TLS|ECONNRESET|EPIPE|socket hang up/, `${label}: the TLS layer ended it (${r.error})`);
  }

  await request(ports.lan, good, 'POST', '/fhir/Patient', patientFor('p-mtls')); // registered first: its age is known

  const consent = await request(ports.lan, good, 'POST', '/fhir/Consent', consentFor('p-mtls'));
  t.same(consent.ok && consent.status, 201, `the good certificate registers a consent ${consent.ok ? consent.body.slice(0, 200) : consent.error}`);
  const posted = await request(ports.lan, good, 'POST', '/fhir/Observation', observation('p-mtls', 2));
  t.same(posted.ok && posted.status, 202, `and its post is accepted ${posted.ok ? '' : posted.error}`);
  const id = posted.ok ? JSON.parse(posted.body).id : 'none';
  const status = await request(ports.lan, good, 'GET', `/messages/${id}`);
  t.equal(status.ok && JSON.parse(status.body).source, 'lab-system', 'the message source is the certificate name');
  // A header cannot claim another name over mTLS.
  const spoof = await new Promise<Outcome>((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', servername: 'localhost', port: ports.lan, path: '/fhir/Observation', method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json', 'x-source-system': 'pharmacy' }, agent: new https.Agent({ ...good, maxCachedSessions: 0 }) },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', (e) => resolve({ ok: false, error: e.message }));
    req.end(JSON.stringify(observation('p-mtls', 3)));
  });
  const spoofId = spoof.ok ? JSON.parse(spoof.body).id : 'none';
  const spoofStatus = await request(ports.lan, good, 'GET', `/messages/${spoofId}`);
  t.equal(spoofStatus.ok && JSON.parse(spoofStatus.body).source, 'lab-system', 'an X-Source-System header does not override the certificate name');

  t.comment(`HTTPS checks done after ${Date.now() - started} ms`);
  // MLLP: lan.tls puts the HL7 v2 listener under the same mTLS.
  const ack = await mllpOverTls(ports.mllp, good, ADT_A04);
  t.ok(ack.ack, `MLLP over TLS with the good certificate gets an ACK ${ack.error ?? ''}`);
  t.match(ack.ack ?? '', /\rMSA\|(AA|CA)\|LAB-0001\|/, 'an accept for our control id');
  const v2Id = /accepted as ([0-9a-f-]{36})/.exec(ack.ack ?? '')?.[1] ?? 'none';
  const v2 = await request(ports.lan, good, 'GET', `/messages/${v2Id}`);
  t.equal(v2.ok && JSON.parse(v2.body).source, 'lab-system', 'the HL7 v2 message is named by the certificate too');
  for (const [label, creds] of bad) {
    const r = await mllpOverTls(ports.mllp, creds, ADT_A04.replace('LAB-0001', 'LAB-0002'));
    t.notOk(r.ack, `MLLP with ${label}: no ACK (${r.error})`);
  }
  // A revocation reaches the running gateway, on both listeners, without a restart (SIGHUP reloads at once).
  cli('revoke', 'lab-system', '--config', configFile);
  gw.proc.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 1000));
  const afterRevoke = await request(ports.lan, good, 'POST', '/fhir/Observation', observation('p-mtls', 4));
  t.equal(afterRevoke.ok, false, `HTTPS with the certificate revoked while running: refused (${afterRevoke.ok ? afterRevoke.status : afterRevoke.error})`);
  const mllpRevoked = await mllpOverTls(ports.mllp, good, ADT_A04.replace('LAB-0001', 'LAB-0004'));
  t.notOk(mllpRevoked.ack, `MLLP with the certificate revoked while running: no ACK (${mllpRevoked.error})`);
  t.equal(gw.proc.exitCode, null, 'the gateway is still running');

  const plainMllp = await new Promise<string>((resolve) => {
    const s = require_net().connect({ host: '127.0.0.1', port: ports.mllp }, () => s.write(frame(ADT_A04.replace('LAB-0001', 'LAB-0003'))));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    s.setTimeout(5000, () => s.destroy());
  });
  t.notMatch(plainMllp, /MSA\|/, 'plain MLLP (no TLS) gets no ACK');

  // Refused handshakes are security events in the audit log, rate-limited per peer (one entry at once, the rest counted).
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, 'data', 'darwaza.db'), { readonly: true });
  const refused = (db.prepare("SELECT entry FROM audit_entries WHERE event = 'tls-refused'").pluck().all() as string[]).map((e) => JSON.parse(e));
  db.close();
  t.ok(refused.some((e) => e.protocol === 'https' && /127\.0\.0\.1/.test(e.peer)), 'a refused HTTPS handshake is audited with its peer');
  t.ok(refused.some((e) => e.protocol === 'mllp'), 'and a refused MLLP/TLS handshake');
  t.ok(refused.filter((e) => e.protocol === 'https').length <= 2, `at most one entry per peer and window, plus its summary (${refused.length} entries)`);
});

import net from 'node:net';
function require_net() {
  return net;
}

/** The national CA signs the gateway's CSR (what the national service's PKI would do). */
function signCsr(t: Tap, caDir: string, csrPem: string, days = 365): string {
  const ca = pki.certificateFromPem(readFileSync(join(caDir, 'ca.crt'), 'utf8'));
  const caKey = pki.privateKeyFromPem(readFileSync(join(caDir, 'ca.key'), 'utf8'));
  const csr = pki.certificationRequestFromPem(csrPem);
  t.ok(csr.verify(), 'the CSR is self-signed by its key');
  const cert = pki.createCertificate();
  cert.publicKey = csr.publicKey as forge.pki.PublicKey;
  cert.serialNumber = '0a' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * DAY);
  cert.setSubject(csr.subject.attributes);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true }, { name: 'extKeyUsage', clientAuth: true }]);
  cert.sign(caKey, forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

t.test('uplink over mTLS: the gateway presents its certificate (from "certs csr") and delivers only to a server whose key matches the pin', async (t) => {
  const root = t.testdir();
  const dir = join(root, 'gw');
  const national = join(root, 'national');
  initCa(national, { organization: 'national-telemed' });
  issueCertificate(national, 'localhost', { server: true });
  const upstreamPort = await freePort();
  const received: { cn: string | undefined; body: string }[] = [];
  const upstream = https.createServer(
    { key: readFileSync(join(national, 'server.key')), cert: readFileSync(join(national, 'server.crt')), ca: readFileSync(join(national, 'ca.crt')), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const sock = req.socket as tls.TLSSocket;
        received.push({ cn: sock.authorized ? String(sock.getPeerCertificate().subject?.CN) : undefined, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":true}');
      });
    },
  );
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { upstream.closeAllConnections(); upstream.close(() => r()); }));

  const pin = (file: string) => {
    const r = runCli(['certs', 'pin', file], { cwd: root });
    t.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const goodPin = pin(join(national, 'server.crt'));
  const wrongPin = pin(join(national, 'ca.crt'));
  const setPin = (p: string) => (c: any) => {
    c.destinations[0].url = `https://localhost:${upstreamPort}/ingest`;
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 };
    c.destinations[0].tls = { ca: join(national, 'ca.crt'), cert: join(dir, 'certs', 'uplink.crt'), key: join(dir, 'certs', 'uplink.key'), pinSha256: [p] };
  };
  const { ports, configFile } = await prepareDir(dir, setPin(goodPin));
  packAgreesWithConfig(dir); // the test's pack allows the uplink host "localhost"
  const csr = runCli(['certs', 'csr', '--cn', 'demo-hospital', '--config', configFile], { cwd: dir });
  t.equal(csr.code, 0, `darwaza certs csr ${csr.stderr}`);
  writeFileSync(join(dir, 'certs', 'uplink.crt'), signCsr(t, national, readFileSync(join(dir, 'certs', 'uplink.csr'), 'utf8')));

  let gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());
  const post = (path: string, body: unknown) => fetch(`http://127.0.0.1:${ports.lan}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body: JSON.stringify(body) });
  await post('/fhir/Patient', patientFor('p-up')); // registered first: its age is known
  t.equal((await post('/fhir/Consent', consentFor('p-up'))).status, 201);
  const firstRes = await post('/fhir/Observation', observation('p-up', 1));
  const first = (await firstRes.json()) as { id: string };
  if (!t.equal(firstRes.status, 202, JSON.stringify(first).slice(0, 300))) t.comment(gw.output());
  await waitDelivered(ports.lan, first.id);
  t.equal(received.length, 1, 'the upstream got the message');
  t.equal(received[0].cn, 'demo-hospital', 'over mutual TLS: the gateway presented the certificate the national CA signed');
  t.equal(JSON.parse(received[0].body).meta.id, first.id, 'an envelope');

  // The same upstream, but the gateway is told to expect another key: it does not deliver.
  await gw.kill();
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  setPin(wrongPin)(config);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  gw = await startGatewayProcess(dir);
  const second = (await (await post('/fhir/Observation', observation('p-up', 2))).json()) as { id: string };
  const failing = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${ports.lan}/messages/${second.id}`);
    const d = ((await r.json()) as any).destinations[0];
    return d.attempts >= 1 && d.state !== 'delivered' ? d : undefined;
  }, { what: 'a failed attempt' });
  t.match(failing.lastError ?? '', /pin/i, `refused for the pin: "${failing.lastError}"`);
  t.equal(received.length, 1, 'and nothing reached the server whose key is not pinned');
});
