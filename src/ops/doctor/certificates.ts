/** Certificates in the certs folder (CA, LAN server, uplink client, LAN clients): none expired, none close to it. */
import { certificateStatus } from '../../pki/index.js';
import { fail, ok, skip, warn, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';

/** Days ahead of expiry from which doctor warns (the gateway warns from the same day). */
export const CERT_WARN_DAYS = 30;

export function checkCertificates(ctx: DoctorContext): Finding[] {
  let list;
  try {
    list = certificateStatus(ctx.certsDir, ctx.now());
  } catch (err) {
    return [fail('certificates', (err as Error).message.slice(0, 300), 'replace the file with the certificate it should hold (`darwaza certs issue … --renew`)')];
  }
  const live = list.filter((c) => !c.revoked);
  if (live.length === 0) return [skip('certificates', 'no certificates in the certs folder (LAN TLS not set up: `darwaza certs init`)')];
  const renew = (c: (typeof live)[number]) =>
    c.kind === 'ca' ? 'make a new CA and reissue what it signed (`darwaza certs init` in a new folder), before it expires' : c.kind === 'uplink' ? 'request a new uplink certificate (`darwaza certs uplink-csr`) and install it' : `\`darwaza certs issue ${c.kind === 'server' ? '--server ' : ''}${c.name} --renew\``;
  const out: Finding[] = [];
  for (const c of live) {
    if (c.daysLeft < 0) out.push(fail('certificates', `${c.kind} certificate ${c.name} (${c.file}) expired on ${c.notAfter.slice(0, 10)}`, renew(c)));
    else if (c.daysLeft <= CERT_WARN_DAYS) out.push(warn('certificates', `${c.kind} certificate ${c.name} expires in ${c.daysLeft} days (${c.notAfter.slice(0, 10)})`, renew(c)));
  }
  if (out.length === 0) {
    const soonest = live.reduce((a, b) => (a.daysLeft <= b.daysLeft ? a : b));
    out.push(ok('certificates', `${live.length} certificates valid; the first to expire is ${soonest.name} in ${soonest.daysLeft} days`));
  }
  return out;
}
