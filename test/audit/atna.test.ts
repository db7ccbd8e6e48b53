import t from 'tap';
import tls from 'node:tls';
import net from 'node:net';
import forge from 'node-forge';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog, startAtnaFeed, ATNA_PRI } from '../../src/audit/index.js';
import { makeEvent, tempDb } from './helpers.js';

function selfSigned() {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  const attrs = [{ name: 'commonName', value: 'localhost' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true },
    { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A syslog-over-TLS collector that parses RFC 5425 octet-counted frames. */
function collector(creds: { cert: string; key: string }, port = 0, clientCa?: string) {
  const messages: string[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ cert: creds.cert, key: creds.key, ...(clientCa ? { requestCert: true, rejectUnauthorized: true, ca: clientCa } : {}) }, (s) => {
    sockets.add(s);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) return;
        const len = Number(buf.subarray(0, sp).toString('ascii'));
        if (buf.length < sp + 1 + len) return;
        messages.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
        buf = buf.subarray(sp + 1 + len);
      }
    });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  return new Promise<{ port: number; messages: string[]; close: () => Promise<void> }>((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        messages,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
}

const indexOf = (m: string) => Number(/index="(\d+)"/.exec(m)![1]);

const creds = selfSigned();

t.test('entries reach a TLS syslog collector as RFC 5424 messages with octet-counting framing', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  log.append(Array.from({ length: 5 }, () => makeEvent()));
  const c = await collector(creds);
  const feed = startAtnaFeed({ log, host: '127.0.0.1', port: c.port, tls: { ca: creds.cert }, pollMs: 20, hostname: 'appliance 1' });
  await until(() => c.messages.length >= 5);
  log.append(Array.from({ length: 3 }, () => makeEvent()));
  await until(() => c.messages.length >= 8);
  t.equal(c.messages.length, 8);
  const m = c.messages[0];
  t.match(m, new RegExp(`^<${ATNA_PRI}>1 \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z appliance-1 darwaza \\d+ darwaza-audit \\[darwaza@32473 index="0" leaf="[0-9a-f]{64}"\\] \uFEFF\\{`));
  const ev = JSON.parse(m.slice(m.indexOf('\uFEFF') + 1));
  t.match(ev, { resourceType: 'AuditEvent', type: { code: '110106' } });
  t.same(c.messages.map(indexOf), [0, 1, 2, 3, 4, 5, 6, 7]);
  t.equal(feed.cursor(), 8);
  await feed.stop();
  await c.close();
  db.close();
});

t.test('while the collector is unreachable entries are spooled, survive a restart, and drain when it returns', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  // a port with nobody listening
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const errors: Error[] = [];
  let feed = startAtnaFeed({ log, host: '127.0.0.1', port, tls: { ca: creds.cert }, pollMs: 20, reconnectMinMs: 20, reconnectMaxMs: 100, onError: (e) => errors.push(e) });
  log.append(Array.from({ length: 10 }, () => makeEvent()));
  await sleep(200);
  t.equal(feed.connected(), false);
  t.equal(feed.cursor(), 0, 'nothing was sent');
  t.match(errors[0]?.message, /ECONNREFUSED/);
  await feed.stop(); // the gateway restarts while the collector is down
  feed = startAtnaFeed({ log, host: '127.0.0.1', port, tls: { ca: creds.cert }, pollMs: 20, reconnectMinMs: 20, reconnectMaxMs: 100 });
  log.append(Array.from({ length: 5 }, () => makeEvent()));
  const c = await collector(creds, port);
  await until(() => c.messages.length >= 15);
  t.same([...new Set(c.messages.map(indexOf))].sort((a, b) => a - b), [...Array(15).keys()], 'every spooled entry arrived');
  t.equal(feed.cursor(), 15);
  // the collector goes away and comes back: later entries still arrive
  await c.close();
  await until(() => !feed.connected());
  log.append(Array.from({ length: 4 }, () => makeEvent()));
  const c2 = await collector(creds, port);
  await until(() => c2.messages.map(indexOf).includes(18));
  const got = new Set(c2.messages.map(indexOf));
  t.ok([15, 16, 17, 18].every((i) => got.has(i)), 'entries appended while it was down arrived after it returned');
  t.ok(Math.min(...got) >= 0 && [...got].every((i) => i < 19));
  await feed.stop();
  await c2.close();
  db.close();
});

t.test('a collector whose certificate is not trusted receives nothing', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  log.append([makeEvent()]);
  const c = await collector(creds);
  const errors: Error[] = [];
  const feed = startAtnaFeed({ log, host: '127.0.0.1', port: c.port, pollMs: 20, reconnectMinMs: 50, onError: (e) => errors.push(e) });
  await sleep(300);
  t.equal(c.messages.length, 0);
  t.equal(feed.cursor(), 0);
  t.ok(errors.length > 0);
  await feed.stop();
  await c.close();
  db.close();
});

t.test('a collector that requires a client certificate gets the feed when cert and key are given (mutual TLS)', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  log.append([makeEvent(), makeEvent()]);
  const client = selfSigned();
  const c = await collector(creds, 0, client.cert);
  const without = startAtnaFeed({ log, host: '127.0.0.1', port: c.port, tls: { ca: creds.cert }, feed: 'no-cert', pollMs: 20, reconnectMinMs: 50 });
  await sleep(300);
  t.equal(c.messages.length, 0, 'refused without a client certificate');
  // With TLS 1.3 the client may write before the server's refusal arrives; the refusal closes
  // the connection, and the close moves the cursor back (nothing is counted as sent).
  await until(() => without.cursor() === 0);
  t.equal(without.cursor(), 0, 'the cursor stays at (or returns to) the first unsent entry');
  await without.stop();
  const feed = startAtnaFeed({ log, host: '127.0.0.1', port: c.port, tls: { ca: creds.cert, cert: client.cert, key: client.key }, feed: 'mtls', pollMs: 20 });
  await until(() => c.messages.length >= 2);
  t.same(c.messages.map(indexOf), [0, 1]);
  await feed.stop();
  await c.close();
  db.close();
});
