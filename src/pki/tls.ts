/**
 * TLS options: the LAN listener (mutual TLS with our CA and CRL) and the uplink
 * (client certificate + CA bundle + SPKI pins per destination).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { checkServerIdentity as defaultCheckServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { EventEmitter } from 'node:events';
import type { AgentOptions } from 'node:https';
import { crlNextUpdate, refreshCrl } from './ca.js';
import { PkiError, pkiPath } from './files.js';

export const DEFAULT_CRL_REFRESH_BEFORE_MS = 7 * 86_400_000;

export interface LanTlsOptions {
  key: string;
  cert: string;
  ca: string;
  crl: string;
  requestCert: true;
  rejectUnauthorized: true;
  minVersion: 'TLSv1.2';
}

const need = (file: string, hint: string) => {
  if (!existsSync(file)) throw new PkiError(`${file} is missing: ${hint}`);
  return readFileSync(file, 'utf8');
};

/**
 * Options for node:https / @hono/node-server's createServer: only certificates issued by our
 * CA, unexpired and not on the CRL, complete the handshake. The CRL is re-signed here when it
 * is missing or within DEFAULT_CRL_REFRESH_BEFORE_MS of its nextUpdate (an expired CRL would
 * make OpenSSL refuse every client). Call again + server.setSecureContext() after a revocation.
 */
export function lanTlsOptions(certsDir: string, options: { now?: Date } = {}): LanTlsOptions {
  const now = options.now ?? new Date();
  const ca = need(pkiPath(certsDir, 'caCert'), 'run "darwaza certs init"');
  const key = need(pkiPath(certsDir, 'serverKey'), 'run "darwaza certs issue --server localhost"');
  const cert = need(pkiPath(certsDir, 'serverCert'), 'run "darwaza certs issue --server localhost"');
  const crlFile = pkiPath(certsDir, 'crl');
  let crl = existsSync(crlFile) ? readFileSync(crlFile, 'utf8') : '';
  const next = crl ? crlNextUpdate(crl) : undefined;
  if (!next || next.getTime() - now.getTime() < DEFAULT_CRL_REFRESH_BEFORE_MS) crl = refreshCrl(certsDir, { now });
  return { key, cert, ca, crl, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

/** Common name of the verified client certificate, or undefined when the peer is not authorised. */
export function clientName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
}

/**
 * The names of the verified client certificate: CN and subject alternative names (values
 * without their "DNS:"/"URI:"/"IP Address:" prefixes), or undefined when not authorised.
 */
export function clientNames(socket: TLSSocket): { cn?: string; san: string[] } | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN as string | string[] | undefined;
  const san = (cert?.subjectaltname ?? '')
    .split(/,\s*/)
    .map((s) => s.replace(/^[A-Za-z ]+:/, '').trim())
    .filter((s) => s.length > 0);
  return { ...(Array.isArray(cn) ? { cn: cn[0] } : cn ? { cn } : {}), san };
}

/** A refused TLS handshake: the peer's address and a short reason code (never certificate content). */
export interface HandshakeFailure {
  peer: string;
  reason: string;
}

/**
 * Calls `onFailure` for every handshake a TLS server refuses (no, expired, revoked or foreign
 * client certificate; not TLS at all). The reason is OpenSSL's reason name or Node's error code.
 */
export function onTlsHandshakeFailure(server: EventEmitter, onFailure: (f: HandshakeFailure) => void): void {
  server.on('tlsClientError', (err: Error & { code?: string; reason?: string }, socket: TLSSocket | undefined) => {
    const reason = (err.reason || err.code || 'handshake failed').toString().slice(0, 80);
    const peer = socket?.remoteAddress ?? 'unknown';
    try {
      onFailure({ peer, reason });
    } catch {
      /* a hook must not break the listener */
    }
  });
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo DER (the HPKP "pin-sha256"). */
export function spkiSha256(certificate: string | Buffer): string {
  const x = new X509Certificate(certificate);
  const spki = x.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Per-destination uplink TLS config (paths already resolved by the config loader). */
export interface UplinkTlsConfig {
  /** CA bundle (PEM file) for the destination's server certificate; default: Node's root store. */
  ca?: string;
  /** The gateway's client certificate (PEM file) and key. */
  cert?: string;
  key?: string;
  /** Accepted base64 SHA-256 SPKI pins of the server key (any one matches; list two during a rotation). */
  pinSha256?: string[];
}

/**
 * https.AgentOptions for one destination: TLS 1.2+, chain verification always on, the
 * gateway's client certificate, and — when pins are configured — a checkServerIdentity
 * that also requires the server's SPKI hash to be one of them.
 */
export function uplinkTlsOptions(tls: UplinkTlsConfig | undefined = {}): AgentOptions {
  const read = (file: string | undefined, field: string) => {
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch {
      throw new PkiError(`tls.${field}: cannot read ${file}`);
    }
  };
  if (!!tls.cert !== !!tls.key) throw new PkiError('tls.cert and tls.key must be given together');
  const pins = tls.pinSha256 ?? [];
  for (const p of pins) {
    if (typeof p !== 'string' || Buffer.from(p, 'base64').length !== 32) throw new PkiError(`tls.pinSha256: "${p}" is not a base64 SHA-256 hash`);
  }
  const options: AgentOptions = {
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
    ca: read(tls.ca, 'ca'),
    cert: read(tls.cert, 'cert'),
    key: read(tls.key, 'key'),
  };
  if (pins.length > 0) {
    options.checkServerIdentity = (host: string, cert: PeerCertificate) => {
      const err = defaultCheckServerIdentity(host, cert);
      if (err) return err;
      const pin = spkiSha256(cert.raw);
      if (!pins.includes(pin)) {
        const e = new Error(`server key of ${host} does not match any pinned SHA-256 (got ${pin})`) as Error & { code: string };
        e.code = 'ERR_TLS_PIN_MISMATCH';
        return e;
      }
      return undefined;
    };
  }
  for (const k of Object.keys(options) as Array<keyof AgentOptions>) if (options[k] === undefined) delete options[k];
  return options;
}

export const DEFAULT_TLS_RELOAD_INTERVAL_MS = 60_000;

export interface LanTlsReloader {
  /** Re-reads now if crl.pem / server.crt / ca.crt changed or the CRL nears nextUpdate. Returns true if it reloaded. */
  check(): boolean;
  stop(): void;
}

/**
 * Keeps a running LAN listener current: every `intervalMs` it looks at crl.pem, server.crt
 * and ca.crt, and calls server.setSecureContext(lanTlsOptions(certsDir)) when one changed
 * (a `darwaza certs revoke` in another process) or the CRL needs re-signing. Timer is unref'd.
 */
export function watchLanTls(
  server: { setSecureContext(options: LanTlsOptions): void },
  certsDir: string,
  options: { intervalMs?: number; onReload?: () => void; onError?: (err: unknown) => void; clock?: () => Date } = {},
): LanTlsReloader {
  const clock = options.clock ?? (() => new Date());
  const files = [pkiPath(certsDir, 'crl'), pkiPath(certsDir, 'serverCert'), pkiPath(certsDir, 'caCert')];
  const stamp = () => files.map((f) => (existsSync(f) ? `${statSync(f).mtimeMs}:${statSync(f).size}` : '-')).join('|');
  let last = stamp();
  let crlDue = crlNextUpdate(readFileSync(files[0], 'utf8'))?.getTime() ?? 0;
  const check = () => {
    const now = clock();
    const current = stamp();
    if (current === last && crlDue - now.getTime() >= DEFAULT_CRL_REFRESH_BEFORE_MS) return false;
    const opts = lanTlsOptions(certsDir, { now });
    server.setSecureContext(opts);
    last = stamp();
    crlDue = crlNextUpdate(opts.crl)?.getTime() ?? 0;
    options.onReload?.();
    return true;
  };
  const timer = setInterval(() => {
    try {
      check();
    } catch (err) {
      options.onError?.(err);
    }
  }, options.intervalMs ?? DEFAULT_TLS_RELOAD_INTERVAL_MS);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
