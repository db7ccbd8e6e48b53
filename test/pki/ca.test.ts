import t from 'tap';
import { createSecureContext } from 'node:tls';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  initCa,
  issueCertificate,
  revokeCertificate,
  lanTlsOptions,
  certificateStatus,
  createUplinkCsr,
  crlNextUpdate,
} from '../../src/pki/index.js';

const DAY = 86_400_000;
const bits = { keyBits: 2048 };

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
