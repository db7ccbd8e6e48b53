/**
 * SPKI pinning for the uplink: a destination may list the base64 SHA-256 of the
 * server keys it accepts (tls.pinSha256). The uplink calls this after Node's own
 * host-name check; a key not in the list refuses the connection.
 */
import type { PeerCertificate } from 'node:tls';
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
