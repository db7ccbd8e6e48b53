/**
 * The uplink client: POST one sealed envelope to a destination with its
 * Idempotency-Key, and say what that came to (DeliveryResult); post() is the raw exchange
 * batches are built on (./batch.ts). One keep-alive
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
import { readAnswer } from './answer.js';
import { deliverResumable } from './resumable.js';

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
  /** Told about every exchange (link health): bytes sent, time to the answer, its status. */
  observer?: (destination: string, sample: ExchangeSample) => void;
}

export interface ExchangeSample {
  /** Request body plus request headers, as sent. */
  bytesOut: number;
  /** From the request's start to the whole answer (or the error). */
  ms: number;
  status?: number;
  error?: string;
}

/** What came back from one POST: an answer (body read only when asked), or why there was none. */
export type PostOutcome =
  | { kind: 'answer'; status: number; headers: http.IncomingHttpHeaders; body?: Buffer }
  | { kind: 'failed'; error: string };

export interface PostOptions {
  headers: Record<string, string>;
  /** Read (and decode) the answer's body, up to this many bytes; otherwise it is discarded. */
  readBodyLimit?: number;
}

export interface Uplink {
  deliver(destination: Destination, body: Uint8Array, headers: DeliveryHeaders): Promise<DeliveryResult>;
  post(destination: Destination, body: Uint8Array, opts: PostOptions): Promise<PostOutcome>;
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

  function post(d: Destination, body: Uint8Array, opts: PostOptions): Promise<PostOutcome> {
    let entry: ReturnType<typeof agentFor>;
    try {
      entry = agentFor(d);
    } catch (err) {
      const code = (err as { code?: string }).code;
      return Promise.resolve({ kind: 'failed', error: code ? `uplink configuration unreadable (${code})` : 'uplink configuration invalid' });
    }
    const started = clock();
    const headers = { ...opts.headers, 'content-length': String(body.byteLength), 'user-agent': userAgent };
    // Request line and headers as they go on the wire (approximately: Node adds Host and Connection).
    const headerBytes = Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 60 + entry.url.host.length);
    return new Promise<PostOutcome>((resolve) => {
      let settled = false;
      const done = (r: PostOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        observe(d, { bytesOut: body.byteLength + headerBytes, ms: clock() - started, ...(r.kind === 'answer' ? { status: r.status } : { error: r.error }) });
        resolve(r);
      };
      const req = entry.mod.request(entry.url, { method: 'POST', agent: entry.agent, headers });
      const timer = setTimeout(() => {
        done({ kind: 'failed', error: `timeout after ${d.timeoutMs} ms` });
        req.destroy();
      }, d.timeoutMs);
      req.on('response', (res) => {
        res.on('error', () => {});
        const status = res.statusCode ?? 0;
        if (opts.readBodyLimit === undefined) {
          res.resume(); // drain and discard the body so the socket can be reused
          done({ kind: 'answer', status, headers: res.headers });
          return;
        }
        readAnswer(res, opts.readBodyLimit).then(
          (b) => done(b.ok ? { kind: 'answer', status, headers: res.headers, body: b.body } : { kind: 'failed', error: b.error }),
          () => done({ kind: 'failed', error: 'answer unreadable' }),
        );
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        done({ kind: 'failed', error: `network error (${err.code ?? err.name})` });
      });
      req.end(body);
    });
  }

  const observe = (d: Destination, sample: ExchangeSample) => {
    try {
      opts.observer?.(d.name, sample);
    } catch {
      // an observer's failure is not the delivery's
    }
  };

  async function deliver(d: Destination, body: Uint8Array, headers: DeliveryHeaders): Promise<DeliveryResult> {
    // Large envelopes resume after a drop instead of restarting; over https through the destination's
    // own agent, so the CA, client certificate and pins are the same as for a POST.
    if (d.resumable && body.byteLength >= d.resumable.aboveBytes) {
      let agent: http.Agent;
      try {
        agent = agentFor(d).agent;
      } catch (err) {
        const code = (err as { code?: string }).code;
        return { kind: 'retry', error: code ? `uplink configuration unreadable (${code})` : 'uplink configuration invalid' };
      }
      return deliverResumable(d, body, headers, { clock, ...(d.url.startsWith('https:') ? { agent } : {}) });
    }
    const r = await post(d, body, { headers: { 'content-type': headers.contentType, 'idempotency-key': headers.idempotencyKey } });
    return r.kind === 'answer' ? classifyStatus(r.status, r.headers['retry-after'], clock()) : { kind: 'retry', error: r.error };
  }

  return {
    deliver,
    post,
    close() {
      for (const { agent } of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}
