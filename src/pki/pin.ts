/**
 * SPKI pinning for the uplink: a destination may list the base64 SHA-256 of the
 * server keys it accepts (tls.pinSha256). The uplink calls this after Node's own
 * host-name check; a key not in the list refuses the connection.
 */
import { isIP } from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';
import { spkiSha256 } from './tls.js';

export interface PinnedDestination {
  name: string;
  tls?: { pinSha256?: string[] };
}

/** undefined when the server's key is pinned (or nothing is pinned); else the error to fail the handshake with. */
export function checkSpkiPin(destination: PinnedDestination, cert: Pick<PeerCertificate, 'raw'>): Error | undefined {
  const pins = destination.tls?.pinSha256 ?? [];
  if (pins.length === 0) return undefined;
  if (pins.includes(spkiSha256(cert.raw))) return undefined;
  // The code is what the dead-letter/retry reason shows ("network error (ERR_TLS_PIN_MISMATCH)").
  return Object.assign(new Error(`the server key of ${destination.name} does not match a pinned SPKI hash`), { code: 'ERR_TLS_PIN_MISMATCH' });
}

/**
 * The SPKI pin of the certificate an https server presents, read over one TLS handshake
 * (nothing is sent). The chain is not verified here on purpose: the pin is what the operator
 * compares out of band (with the service's published pin) before writing it into the pack.
 */
export function fetchSpkiPin(url: string, opts: { timeoutMs?: number; servername?: string } = {}): Promise<{ pin: string; subject: string; issuer: string; validTo: string }> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new Error(`not a URL: ${url}`));
  }
  if (u.protocol !== 'https:') return Promise.reject(new Error(`${url}: pins are for https URLs`));
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(u.port || 443);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: opts.servername ?? (isIP(host) ? undefined : host), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => socket.destroy(new Error(`${host}:${port}: no TLS handshake within ${opts.timeoutMs ?? 10_000} ms`)), opts.timeoutMs ?? 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate();
      socket.end();
      if (!cert?.raw) return reject(new Error(`${host}:${port}: the server presented no certificate`));
      resolve({ pin: spkiSha256(cert.raw), subject: String(cert.subject?.CN ?? ''), issuer: String(cert.issuer?.CN ?? ''), validTo: cert.valid_to });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`${host}:${port}: ${err.code ?? err.message}`));
    });
  });
}
