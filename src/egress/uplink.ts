/**
 * The uplink client: POST one sealed envelope to a destination with its
 * Idempotency-Key, and say what that came to (DeliveryResult). One keep-alive
 * agent per destination (at most `concurrency` sockets); https with the
 * destination's CA / client certificate / key for mutual TLS.
 * Errors name a status or an error code, never body content.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls, { type PeerCertificate } from 'node:tls';
import type { DeliveryResult, Destination } from '../model/index.js';
import { classifyStatus } from './status.js';

export interface DeliveryHeaders {
  idempotencyKey: string;
  contentType: string;
}

export interface UplinkOptions {
  clock?: () => number;
  /**
   * Extra server identity check for https destinations (SPKI pinning goes here).
   * Runs after Node's host-name check passed; return an Error to refuse the connection.
   */
  checkServerIdentity?: (destination: Destination, hostname: string, cert: PeerCertificate) => Error | undefined;
  /** Reads the tls file paths (default fs.readFileSync). */
  readFile?: (path: string) => Buffer;
  userAgent?: string;
}

export interface Uplink {
  deliver(destination: Destination, body: Uint8Array, headers: DeliveryHeaders): Promise<DeliveryResult>;
  /** Closes every keep-alive socket. */
  close(): void;
}

export const DEFAULT_USER_AGENT = 'darwaza-uplink';

export function createUplink(opts: UplinkOptions = {}): Uplink {
  const clock = opts.clock ?? Date.now;
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p));
  const userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
  const agents = new Map<string, { agent: http.Agent; url: URL; mod: typeof http | typeof https }>();

  function agentFor(d: Destination) {
    const key = `${d.name}\u0000${d.url}`;
    let entry = agents.get(key);
    if (entry) return entry;
    const url = new URL(d.url);
    const common = { keepAlive: true, maxSockets: Math.max(1, d.concurrency), scheduling: 'lifo' as const };
    if (url.protocol === 'https:') {
      const agent = new https.Agent({
        ...common,
        minVersion: 'TLSv1.2',
        ...(d.tls?.ca ? { ca: readFile(d.tls.ca) } : {}),
        ...(d.tls?.cert ? { cert: readFile(d.tls.cert) } : {}),
        ...(d.tls?.key ? { key: readFile(d.tls.key) } : {}),
        checkServerIdentity: (hostname: string, cert: PeerCertificate) =>
          tls.checkServerIdentity(hostname, cert) ?? opts.checkServerIdentity?.(d, hostname, cert),
      });
      entry = { agent, url, mod: https };
    } else if (url.protocol === 'http:') {
      entry = { agent: new http.Agent(common), url, mod: http };
    } else {
      throw new Error(`destination "${d.name}": url must be http or https`);
    }
    agents.set(key, entry);
    return entry;
  }

  function deliver(d: Destination, body: Uint8Array, headers: DeliveryHeaders): Promise<DeliveryResult> {
    let entry: ReturnType<typeof agentFor>;
    try {
      entry = agentFor(d);
    } catch (err) {
      const code = (err as { code?: string }).code;
      return Promise.resolve({ kind: 'retry', error: code ? `uplink configuration unreadable (${code})` : 'uplink configuration invalid' });
    }
    return new Promise<DeliveryResult>((resolve) => {
      let settled = false;
      const done = (r: DeliveryResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = entry.mod.request(entry.url, {
        method: 'POST',
        agent: entry.agent,
        headers: {
          'content-type': headers.contentType,
          'content-length': body.byteLength,
          'idempotency-key': headers.idempotencyKey,
          'user-agent': userAgent,
        },
      });
      const timer = setTimeout(() => {
        done({ kind: 'retry', error: `timeout after ${d.timeoutMs} ms` });
        req.destroy();
      }, d.timeoutMs);
      req.on('response', (res) => {
        res.on('error', () => {});
        res.resume(); // drain and discard the body so the socket can be reused
        done(classifyStatus(res.statusCode ?? 0, res.headers['retry-after'], clock()));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        done({ kind: 'retry', error: `network error (${err.code ?? err.name})` });
      });
      req.end(body);
    });
  }

  return {
    deliver,
    close() {
      for (const { agent } of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}
