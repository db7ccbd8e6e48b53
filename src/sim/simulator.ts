/**
 * The upstream simulator: a reference national-service receiver for demos and tests, built on
 * the receiver kit (src/receiver) with faults an operator or a test can switch on.
 *
 * Any POST outside /_sim/ is a delivery: a single envelope with an Idempotency-Key, or a batch
 * (application/vnd.darwaza.batch.v1, answered per item). The kit opens it (openEnvelope; default:
 * JSON bodies must parse), de-duplicates, persists and answers. Each distinct key is recorded
 * once, in arrival order; a repeated key is answered 200 again but never counted twice — so a
 * test can check exactly-once effects from outside.
 *
 *   GET  /_sim/received  → { count, ids }     distinct keys accepted
 *   GET  /_sim/stats     → totals (posts incl. duplicates, bytes, rejected, failed, dropped)
 *   POST /_sim/control   → change failRate, failStatus, retryAfterS, delayMs, dropRate,
 *                          dropAfterAcceptRate, down, downForMs, status (null clears), burst
 *   POST /_sim/reset     → forget everything received (and the data file)
 *
 * With dataDir, accepted keys are appended to <dataDir>/received.log (one per line,
 * written before the answer) and read back at start, so a restarted simulator
 * still recognises them. The append is not fsynced unless `fsync` is set: by default it
 * survives a killed process, not a power cut — enough for a simulator.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  createReceiverKit,
  createResumableReceiver,
  fileReceiptStore,
  memoryReceiptStore,
  DEFAULT_RESUMABLE_PATH,
  type AcceptedEnvelope,
  type OpenVerdict,
} from '../receiver/index.js';

/** What the openEnvelope hook says: ok (with meta and payload when it opened the envelope) or a refusal. */
export type EnvelopeVerdict = OpenVerdict;

export interface SimControl {
  /** Probability of answering failStatus instead of accepting. */
  failRate: number;
  failStatus: number;
  /** Retry-After seconds sent with failStatus / status answers (0 = none). */
  retryAfterS: number;
  delayMs: number;
  /** Probability of destroying the socket before processing (nothing recorded). */
  dropRate: number;
  /** Probability of recording the delivery and then destroying the socket (the answer is lost). */
  dropAfterAcceptRate: number;
  /** Deliveries are refused by closing their sockets; /_sim/ stays reachable. */
  down: boolean;
  /** Answer every delivery with this status, recording nothing (null = normal). */
  status: number | null;
  /** The next this-many deliveries are answered failStatus (with Retry-After): a burst. */
  burst: number;
}

export const DEFAULT_SIM_CONTROL: SimControl = {
  failRate: 0,
  failStatus: 503,
  retryAfterS: 0,
  delayMs: 0,
  dropRate: 0,
  dropAfterAcceptRate: 0,
  down: false,
  status: null,
  burst: 0,
};

export const DEFAULT_SIM_HOST = '127.0.0.1';
export const DEFAULT_SIM_PORT = 9443;
export const DEFAULT_SIM_MAX_BODY = 16 * 1024 * 1024;

export interface SimulatorOptions extends Partial<SimControl> {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  dataDir?: string;
  openEnvelope?: (body: Buffer, headers: IncomingHttpHeaders) => EnvelopeVerdict;
  random?: () => number;
  maxBodyBytes?: number;
  /** Turns `down` off again after this many ms. */
  downForMs?: number;
  /** fsync the received.log after each append (with dataDir). */
  fsync?: boolean;
  /** Called with what was accepted, before the answer (e.g. a test keeping opened payloads). */
  persist?: (accepted: AcceptedEnvelope[]) => void | Promise<void>;
}

export interface SimulatorState {
  control: SimControl;
  /** Distinct Idempotency-Keys accepted, in arrival order. */
  ids: string[];
  /** Every delivery POST, duplicates included. */
  total: number;
  bytes: number;
  duplicates: number;
  rejected: number;
  failed: number;
  dropped: number;
}

export interface Simulator {
  url: string;
  port: number;
  state: SimulatorState;
  control(change: Partial<SimControl> & { downForMs?: number }): SimControl;
  stop(): Promise<void>;
}

/** Validates a control change (from JSON): names the bad field. */
export function parseControl(input: unknown): Partial<SimControl> & { downForMs?: number } {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new Error('control must be a JSON object');
  const o = input as Record<string, unknown>;
  const out: Partial<SimControl> & { downForMs?: number } = {};
  const rate = (k: 'failRate' | 'dropRate' | 'dropAfterAcceptRate') => {
    if (o[k] === undefined) return;
    const v = o[k];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${k} must be a number from 0 to 1`);
    out[k] = v;
  };
  const count = (k: 'delayMs' | 'retryAfterS' | 'downForMs' | 'burst') => {
    if (o[k] === undefined) return;
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${k} must be a non-negative number`);
    out[k] = v;
  };
  const status = (k: 'failStatus' | 'status') => {
    if (o[k] === undefined) return;
    const v = o[k];
    if (k === 'status' && v === null) {
      out.status = null;
      return;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 200 || v > 599) throw new Error(`${k} must be an HTTP status (200-599)`);
    out[k] = v;
  };
  rate('failRate');
  rate('dropRate');
  rate('dropAfterAcceptRate');
  count('delayMs');
  count('retryAfterS');
  count('downForMs');
  count('burst');
  status('failStatus');
  status('status');
  if (o.down !== undefined) {
    if (typeof o.down !== 'boolean') throw new Error('down must be true or false');
    out.down = o.down;
  }
  const known = new Set(['failRate', 'dropRate', 'dropAfterAcceptRate', 'delayMs', 'retryAfterS', 'downForMs', 'failStatus', 'status', 'down', 'burst']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new Error(`unknown control field: ${k}`);
  return out;
}

const defaultOpenEnvelope = (body: Buffer, headers: IncomingHttpHeaders): EnvelopeVerdict => {
  if (!/json/i.test(headers['content-type'] ?? '')) return { ok: true };
  try {
    JSON.parse(body.toString('utf8'));
    return { ok: true };
  } catch {
    return { ok: false, status: 400, reason: 'body is not JSON' };
  }
};

function sendJson(res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        resolve(null);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const random = opts.random ?? Math.random;
  const openEnvelope = opts.openEnvelope ?? defaultOpenEnvelope;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_SIM_MAX_BODY;
  const control: SimControl = { ...DEFAULT_SIM_CONTROL };
  for (const k of Object.keys(DEFAULT_SIM_CONTROL) as (keyof SimControl)[]) {
    if (opts[k] !== undefined) (control as unknown as Record<string, unknown>)[k] = opts[k];
  }
  const receipts = opts.dataDir ? fileReceiptStore(join(opts.dataDir, 'received.log'), { fsync: opts.fsync }) : memoryReceiptStore();
  const counters = { total: 0, bytes: 0, duplicates: 0, rejected: 0, failed: 0, dropped: 0 };
  const state = counters as SimulatorState;
  Object.defineProperty(state, 'control', { value: control, enumerable: false });
  // The kit's receipts are the record; `ids` reads them live.
  Object.defineProperty(state, 'ids', { get: () => receipts.ids(), enumerable: false });
  // Acting as the national service (an opener that checks envelopes), a repeated id answers the
  // contract's 409; the plain test receiver answers 200 {duplicate: true}. Both count as delivered.
  const kit = createReceiverKit({ open: openEnvelope, receipts, duplicateStatus: opts.openEnvelope ? 409 : 200, ...(opts.persist ? { persist: opts.persist } : {}) });
  // Resumable (tus) uploads of large envelopes under /tus/: kept in the data dir, else a temporary folder.
  const tusDir = opts.dataDir ? join(opts.dataDir, 'tus') : mkdtempSync(join(tmpdir(), 'darwaza-sim-tus-'));
  const resumable = createResumableReceiver({ kit, directory: tusDir, maxBytes: maxBody });
  const sockets = new Set<Socket>();
  let upTimer: NodeJS.Timeout | undefined;

  const applyControl = (change: Partial<SimControl> & { downForMs?: number }): SimControl => {
    const { downForMs, ...rest } = change;
    Object.assign(control, rest);
    if (upTimer) clearTimeout(upTimer);
    upTimer = undefined;
    if (downForMs !== undefined && downForMs > 0) {
      control.down = true;
      upTimer = setTimeout(() => {
        control.down = false;
        upTimer = undefined;
      }, downForMs);
      upTimer.unref();
    }
    return { ...control };
  };
  if (opts.downForMs) applyControl({ downForMs: opts.downForMs });

  const retryAfterHeader = (): Record<string, string> =>
    control.retryAfterS > 0 ? { 'retry-after': String(Math.ceil(control.retryAfterS)) } : {};

  async function onDelivery(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (control.down) {
      state.dropped++;
      req.socket.destroy();
      return;
    }
    const body = await readBody(req, maxBody);
    state.total++;
    if (body === null) {
      state.rejected++;
      sendJson(res, 413, { error: 'body too large' });
      return;
    }
    state.bytes += body.length;
    if (control.dropRate > 0 && random() < control.dropRate) {
      state.dropped++;
      req.socket.destroy();
      return;
    }
    if (control.delayMs > 0) await new Promise((r) => setTimeout(r, control.delayMs));
    if (control.status !== null) {
      state.failed++;
      sendJson(res, control.status, { error: 'forced status' }, retryAfterHeader());
      return;
    }
    if (control.failRate > 0 && random() < control.failRate) {
      state.failed++;
      sendJson(res, control.failStatus, { error: 'simulated failure' }, retryAfterHeader());
      return;
    }
    if (control.burst > 0) {
      control.burst--;
      state.failed++;
      sendJson(res, control.failStatus, { error: 'simulated burst' }, retryAfterHeader());
      return;
    }
    const answer = await kit.handle(body, req.headers);
    state.duplicates += answer.duplicates;
    state.rejected += answer.rejected;
    if (answer.accepted.length && control.dropAfterAcceptRate > 0 && random() < control.dropAfterAcceptRate) {
      state.dropped++;
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
    res.end(answer.body);
  }

  async function onControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'GET' && path === '/_sim/received') {
      sendJson(res, 200, { count: state.ids.length, ids: state.ids });
    } else if (req.method === 'GET' && path === '/_sim/stats') {
      sendJson(res, 200, { ...counters, distinct: state.ids.length, control });
    } else if (req.method === 'POST' && path === '/_sim/control') {
      const body = await readBody(req, 64 * 1024);
      try {
        const change = parseControl(JSON.parse(body?.toString('utf8') || '{}'));
        sendJson(res, 200, applyControl(change));
      } catch (err) {
        sendJson(res, 400, { error: (err as Error).message });
      }
    } else if (req.method === 'POST' && path === '/_sim/reset') {
      req.resume();
      receipts.clear();
      Object.assign(counters, { total: 0, bytes: 0, duplicates: 0, rejected: 0, failed: 0, dropped: 0 });
      sendJson(res, 200, { reset: true });
    } else {
      req.resume();
      sendJson(res, 404, { error: 'not found' });
    }
  }

  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = path.startsWith('/_sim/')
      ? onControl(req, res, path)
      : path === DEFAULT_RESUMABLE_PATH || path.startsWith(`${DEFAULT_RESUMABLE_PATH}/`)
        ? control.down
          ? Promise.resolve(void req.socket.destroy())
          : resumable.handle(req, res)
      : req.method === 'POST'
        ? onDelivery(req, res)
        : Promise.resolve(sendJson(res, 405, { error: 'POST a delivery' }));
    handler.catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'simulator error' });
      else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_SIM_PORT, opts.host ?? DEFAULT_SIM_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? DEFAULT_SIM_PORT);
  const host = opts.host ?? DEFAULT_SIM_HOST;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    state,
    control: applyControl,
    stop: () =>
      new Promise<void>((resolve) => {
        if (upTimer) clearTimeout(upTimer);
        if (!opts.dataDir) rmSync(tusDir, { recursive: true, force: true });
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
