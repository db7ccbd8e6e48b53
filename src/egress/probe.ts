/**
 * `darwaza link test`: probe one destination step by step and say in plain words what is wrong.
 * Steps: address (DNS), reachability (TCP connect, its time ≈ one RTT), TLS (chain and host
 * name with the destination's CA), pin (SPKI), recipient key (configured and well-formed),
 * throughput (one unsigned probe POST that a receiver refuses after reading it; nothing is
 * delivered). Each step is a value with a verdict and a sentence; later steps are skipped
 * when an earlier one makes them meaningless.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';
import type { Destination } from '../model/index.js';

export type ProbeVerdict = 'ok' | 'problem' | 'skipped' | 'note';

export interface ProbeStep {
  check: 'address' | 'reachable' | 'tls' | 'pin' | 'recipient-key' | 'throughput';
  verdict: ProbeVerdict;
  says: string;
  ms?: number;
}

export interface ProbeOptions {
  timeoutMs?: number;
  /** Bytes sent by the throughput probe (default 64 KiB). */
  probeBytes?: number;
  /** The SPKI check (the gateway's checkSpkiPin). */
  checkPin?: (d: Destination, cert: PeerCertificate) => Error | undefined;
  /** The recipient-key check: undefined when fine, else the problem in words. */
  checkRecipient?: (d: Destination) => { ok: boolean; says: string };
  readFile?: (p: string) => Buffer;
}

const TLS_WORDS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server presents a self-signed certificate; give its CA in tls.ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server certificate chains to a CA this gateway does not trust; set tls.ca',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate cannot be verified; its CA is missing from tls.ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server certificate chains to a CA this gateway does not trust; set tls.ca',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  CERT_NOT_YET_VALID: 'the server certificate is not valid yet (check this machine\'s clock)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate is for another host name',
  ECONNRESET: 'the server (or something in between) cut the connection during the TLS handshake',
  EPROTO: 'the TLS handshake failed: the far end does not speak TLS here, or refuses our TLS versions',
};

const words = (code: string | undefined, fallback: string) => (code && TLS_WORDS[code]) ?? `${fallback}${code ? ` (${code})` : ''}`;

export async function probeDestination(d: Destination, opts: ProbeOptions = {}): Promise<ProbeStep[]> {
  const timeout = opts.timeoutMs ?? Math.min(d.timeoutMs, 15_000);
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p));
  const steps: ProbeStep[] = [];
  const url = new URL(d.url);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const skip = (check: ProbeStep['check'], because: string) => steps.push({ check, verdict: 'skipped', says: because });

  // Address.
  try {
    const a = net.isIP(host) ? { address: host } : await lookup(host);
    steps.push({ check: 'address', verdict: 'ok', says: `${host} is ${a.address}` });
  } catch (err) {
    steps.push({ check: 'address', verdict: 'problem', says: `the name ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'}): check DNS on this machine or the destination url` });
  }
  // Reachable.
  const started = Date.now();
  const tcp = await new Promise<{ ok: true } | { ok: false; code: string }>((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => (s.destroy(), resolve({ ok: false, code: 'ETIMEDOUT' })), timeout);
    s.once('connect', () => (clearTimeout(t), s.destroy(), resolve({ ok: true })));
    s.once('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), resolve({ ok: false, code: e.code ?? 'error' })));
  });
  const rtt = Date.now() - started;
  if (!tcp.ok) {
    const why =
      tcp.code === 'ECONNREFUSED'
        ? 'nothing listens there (connection refused): the service is down or the port is wrong'
        : tcp.code === 'ETIMEDOUT'
          ? `no answer within ${timeout} ms: the link is down, or a firewall drops the traffic`
          : `the connection failed (${tcp.code})`;
    steps.push({ check: 'reachable', verdict: 'problem', says: `${host}:${port}: ${why}` });
  } else {
    steps.push({ check: 'reachable', verdict: 'ok', says: `${host}:${port} accepts connections (connect took ${rtt} ms ≈ one round trip)`, ms: rtt });
  }

  // TLS and pin.
  let agentTls: tls.ConnectionOptions = {};
  if (!secure) {
    skip('tls', 'the destination url is http://: nothing is encrypted in transit (the envelopes still are)');
    skip('pin', 'no TLS, so no key to pin');
  } else if (!tcp.ok) {
    skip('tls', 'not reachable');
    skip('pin', 'not reachable');
  } else {
    try {
      agentTls = {
        ...(d.tls?.ca ? { ca: readFile(d.tls.ca) } : {}),
        ...(d.tls?.cert ? { cert: readFile(d.tls.cert) } : {}),
        ...(d.tls?.key ? { key: readFile(d.tls.key) } : {}),
      };
    } catch (err) {
      steps.push({ check: 'tls', verdict: 'problem', says: `a TLS file named in the destination cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    }
    if (!steps.some((s) => s.check === 'tls')) {
      const r = await new Promise<{ ok: true; cert: PeerCertificate } | { ok: false; code?: string }>((resolve) => {
        const s = tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, minVersion: 'TLSv1.2', ...agentTls });
        const t = setTimeout(() => (s.destroy(), resolve({ ok: false, code: 'ETIMEDOUT' })), timeout);
        s.once('secureConnect', () => {
          clearTimeout(t);
          const cert = s.getPeerCertificate(true);
          s.destroy();
          resolve({ ok: true, cert });
        });
        s.once('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), resolve({ ok: false, code: e.code })));
      });
      if (r.ok) {
        steps.push({ check: 'tls', verdict: 'ok', says: `TLS handshake verified (certificate for ${r.cert.subject?.CN ?? host}, valid until ${r.cert.valid_to})` });
        const pinErr = opts.checkPin?.(d, r.cert);
        if (!d.tls?.pinSha256?.length) steps.push({ check: 'pin', verdict: 'note', says: 'no SPKI pin configured (tls.pinSha256): any certificate from the trusted CA is accepted' });
        else if (pinErr) steps.push({ check: 'pin', verdict: 'problem', says: 'the server key does not match any pinned SPKI hash: the service changed its key, or someone is in between' });
        else steps.push({ check: 'pin', verdict: 'ok', says: 'the server key matches a pinned SPKI hash' });
      } else {
        steps.push({ check: 'tls', verdict: 'problem', says: words(r.code, 'the TLS handshake failed') });
        skip('pin', 'no verified TLS handshake');
      }
    }
  }

  // Recipient key.
  const rk = opts.checkRecipient?.(d);
  if (rk) steps.push({ check: 'recipient-key', verdict: rk.ok ? 'ok' : 'problem', says: rk.says });
  else skip('recipient-key', 'not checked');

  // Throughput.
  if (!tcp.ok || steps.some((s) => s.check === 'tls' && s.verdict === 'problem')) {
    skip('throughput', 'the link is not usable');
  } else {
    const bytes = opts.probeBytes ?? 64 * 1024;
    const t0 = Date.now();
    const r = await new Promise<{ status?: number; code?: string }>((resolve) => {
      const req = (secure ? https : http).request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes), 'x-darwaza-probe': 'throughput' },
        ...(secure ? agentTls : {}),
        timeout,
      } as https.RequestOptions);
      req.on('response', (res) => (res.resume(), resolve({ status: res.statusCode })));
      req.on('timeout', () => (req.destroy(), resolve({ code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code }));
      req.end(Buffer.alloc(bytes));
    });
    const ms = Date.now() - t0;
    if (r.status === undefined) {
      steps.push({ check: 'throughput', verdict: 'problem', says: `the probe upload of ${bytes} bytes did not get an answer (${r.code ?? 'error'})` });
    } else {
      const kbit = Math.round((bytes * 8) / Math.max(1, ms - rtt));
      steps.push({
        check: 'throughput',
        verdict: 'ok',
        says: `${bytes} bytes up and an answer (HTTP ${r.status}, expected: a probe is refused) in ${ms} ms: about ${kbit} kbit/s`,
        ms,
      });
    }
  }
  return steps;
}
