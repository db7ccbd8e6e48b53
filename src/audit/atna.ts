/**
 * ATNA feed: audit entries to a syslog collector over TLS (RFC 5425), one RFC 5424
 * message per entry, octet-counting framing ("LEN SP MSG").
 *
 *   <85>1 2026-03-01T08:00:01.000Z appliance darwaza 1234 darwaza-audit [darwaza@32473 index="12" leaf="…"] BOM{FHIR AuditEvent JSON}
 *
 * PRI 85 = facility 10 (security/authorization) × 8 + severity 5 (notice), as IHE ATNA uses;
 * security alerts (security-events.ts) go out with severity 4 (PRI 84) as DICOM "Security Alert".
 * The payload is the entry as a FHIR R4 AuditEvent (see fhir.ts), not DICOM XML.
 *
 * Spooling: the audit log itself is the spool. A cursor row (audit_atna_cursor) records the
 * next leaf index to send, and advances after a batch was written to the socket. While the
 * collector is unreachable nothing is lost: entries wait in the log, and the feed reconnects
 * with backoff and drains from the cursor. Syslog has no acknowledgement, so "written" only
 * means handed to the kernel: whenever a connection closes, the cursor is moved back (and
 * persisted) to the first batch written in the last `settleMs`, which is sent again. Delivery
 * is thus at least once; the leaf index in the structured data lets the collector drop
 * duplicates. (With TLS 1.3 a collector that refuses our client certificate does so after
 * our first write: that batch comes back the same way.)
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import tls from 'node:tls';
import type { AuditLog } from './log.js';
import type { AuditEntry } from './entry.js';
import { toFhirAuditEvent } from './fhir.js';
import { leafHash } from './merkle.js';
import { securityAlertOf } from './security-events.js';

export interface AtnaTlsOptions {
  /** PEM text or a file path, for each. */
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  /** Default true: the collector's certificate must chain to `ca` (or the system roots). */
  rejectUnauthorized?: boolean;
}

export interface AtnaFeedOptions {
  log: AuditLog;
  host: string;
  port: number;
  tls?: AtnaTlsOptions;
  /** Cursor name, so several collectors can each have one. */
  feed?: string;
  /** Where a new feed starts: the first entry, or entries appended from now on. */
  startAt?: 'beginning' | 'end';
  pollMs?: number;
  batch?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  connectTimeoutMs?: number;
  /** Batches written this recently are sent again after the connection closes (at least once). */
  settleMs?: number;
  hostname?: string;
  appName?: string;
  /** Connection problems (PHI-free messages); the feed keeps retrying. */
  onError?: (err: Error) => void;
  clock?: () => Date;
}

export const DEFAULT_ATNA = {
  feed: 'default',
  pollMs: 1000,
  batch: 200,
  reconnectMinMs: 500,
  reconnectMaxMs: 60_000,
  connectTimeoutMs: 10_000,
  settleMs: 5_000,
  appName: 'darwaza',
} as const;

export const ATNA_PRI = 10 * 8 + 5;
/** Security alerts (refused handshakes and roles, break-glass, refused policies): severity 4, warning. */
export const ATNA_ALERT_PRI = 10 * 8 + 4;
export const ATNA_SD_ID = 'darwaza@32473';

export interface AtnaFeed {
  /** Index of the next entry to send (persisted). */
  cursor(): number;
  /** True while a TLS connection to the collector is up. */
  connected(): boolean;
  stop(): Promise<void>;
}

/** One RFC 5424 message (bytes), framed for RFC 5425: "LEN SP MSG". */
export function frameSyslog(index: number, text: string, entry: AuditEntry, host: string, appName: string, procId: string): Buffer {
  const fhir = toFhirAuditEvent(index, text, entry);
  // Security events go out as DICOM "Security Alert" (110113) with their subtype, as ATNA
  // repositories expect; the darwaza event type stays in the subtype list beside it.
  const alert = securityAlertOf(entry.event);
  if (alert) Object.assign(fhir, { type: alert.type, subtype: [alert.subtype, ...((fhir.subtype as unknown[]) ?? [])], outcome: alert.outcome });
  const ev = JSON.stringify(fhir);
  const sd = `[${ATNA_SD_ID} index="${index}" leaf="${leafHash(text).toString('hex')}"]`;
  const header = `<${alert ? ATNA_ALERT_PRI : ATNA_PRI}>1 ${entry.time} ${host} ${appName} ${procId} darwaza-audit ${sd} `;
  const msg = Buffer.concat([Buffer.from(header, 'utf8'), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(ev, 'utf8')]);
  return Buffer.concat([Buffer.from(`${msg.length} `, 'ascii'), msg]);
}

const pem = (v: string | undefined) => (v === undefined ? undefined : v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8'));
/** RFC 5424 HOSTNAME: printable US-ASCII, no spaces, ≤ 255. */
const sanitizeHost = (h: string) => h.replace(/[^\x21-\x7e]/g, '-').slice(0, 255) || '-';

export function startAtnaFeed(opts: AtnaFeedOptions): AtnaFeed {
  const o = { ...DEFAULT_ATNA, ...opts };
  const { log } = opts;
  const db = log.db;
  const host = sanitizeHost(opts.hostname ?? osHostname());
  const procId = String(process.pid);
  const onError = opts.onError ?? (() => {});
  const clock = opts.clock ?? (() => new Date());
  const tlsOpts = {
    ca: pem(opts.tls?.ca),
    cert: pem(opts.tls?.cert),
    key: pem(opts.tls?.key),
    servername: opts.tls?.servername,
    rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true,
  };
  const getCursor = db.prepare('SELECT next_index FROM audit_atna_cursor WHERE feed = ?').pluck();
  const setCursor = db.prepare(
    'INSERT INTO audit_atna_cursor (feed, next_index, updated_at) VALUES (?, ?, ?) ON CONFLICT (feed) DO UPDATE SET next_index = excluded.next_index, updated_at = excluded.updated_at',
  );
  const page = db.prepare('SELECT idx, entry FROM audit_entries WHERE idx >= ? ORDER BY idx LIMIT ?');
  if (getCursor.get(o.feed) === undefined) setCursor.run(o.feed, o.startAt === 'end' ? log.size() : 0, clock().toISOString());

  let cursor = getCursor.get(o.feed) as number;
  /** Batches written on the current connection within the settle window: { start, at }. */
  let recent: Array<{ start: number; at: number }> = [];
  let socket: tls.TLSSocket | null = null;
  let up = false;
  let stopped = false;
  let sending = false;
  let timer: NodeJS.Timeout | undefined;
  let backoff = o.reconnectMinMs;

  const schedule = (fn: () => void, ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };

  /** On any close: what was written lately may not have reached the collector. */
  const rewind = () => {
    const now = Date.now();
    const unsure = recent.filter((b) => now - b.at <= o.settleMs);
    recent = [];
    if (unsure.length === 0) return;
    cursor = Math.min(cursor, unsure[0].start);
    setCursor.run(o.feed, cursor, clock().toISOString());
  };

  const connect = () => {
    if (stopped) return;
    const s = tls.connect({ host: opts.host, port: opts.port, ...tlsOpts, timeout: o.connectTimeoutMs });
    socket = s;
    s.setNoDelay(true);
    s.once('secureConnect', () => {
      up = true;
      backoff = o.reconnectMinMs;
      recent = [];
      pump();
    });
    s.on('timeout', () => s.destroy(new Error('collector did not answer in time')));
    s.on('data', () => {}); // collectors do not answer; ignore anything they send
    s.on('error', (err) => onError(new Error(`ATNA feed to ${opts.host}:${opts.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    s.once('close', () => {
      if (socket === s) socket = null;
      up = false;
      sending = false;
      rewind();
      if (stopped) return;
      schedule(connect, backoff);
      backoff = Math.min(backoff * 2, o.reconnectMaxMs);
    });
  };

  const pump = () => {
    if (stopped || !up || sending || !socket) return;
    const rows = page.all(cursor, o.batch) as Array<{ idx: number; entry: string }>;
    if (rows.length === 0) {
      schedule(pump, o.pollMs);
      return;
    }
    const frames = rows.map((r) => frameSyslog(r.idx, r.entry, JSON.parse(r.entry) as AuditEntry, host, o.appName, procId));
    sending = true;
    const s = socket;
    const start = cursor;
    s.write(Buffer.concat(frames), (err) => {
      sending = false;
      if (err || stopped || socket !== s) return;
      const now = Date.now();
      recent.push({ start, at: now });
      while (recent.length > 0 && now - recent[0].at > o.settleMs) recent.shift();
      cursor = rows[rows.length - 1].idx + 1;
      setCursor.run(o.feed, cursor, clock().toISOString());
      setImmediate(pump);
    });
  };

  connect();
  return {
    cursor: () => cursor,
    connected: () => up,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const s = socket;
      socket = null;
      if (s && !s.destroyed) {
        await new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          s.end();
          setTimeout(() => s.destroy(), 1000).unref();
        });
      }
    },
  };
}
