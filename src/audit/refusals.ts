/**
 * Refused TLS handshakes as audit entries, rate-limited: a scanner or a misconfigured
 * client must not flood the log. Per listener protocol and peer address, the first refusal is recorded at once,
 * later ones within `windowMs` are counted and recorded as one entry (with the count) when
 * the window ends. At most `maxPeersPerWindow` peers get entries of their own per window;
 * refusals from further peers (a burst from many addresses) become one aggregate entry
 * per window with the number of peers in its reason.
 */
import type { AuditEvent } from '../model/index.js';
import { tlsRefusedEvent } from './security-events.js';

export interface RefusalAuditOptions {
  append: (events: AuditEvent[]) => void;
  windowMs?: number;
  maxPeersPerWindow?: number;
  clock?: () => Date;
}

export interface RefusalAudit {
  /** One refused handshake from `peer` on `protocol` ('https', 'mllp'); reason is a short code. */
  refused(peer: string, protocol: string, reason: string): void;
  /** Writes whatever is pending (at the end of each window, and at stop). */
  flush(): void;
  stop(): void;
}

export const DEFAULT_REFUSAL_WINDOW_MS = 60_000;
export const DEFAULT_MAX_PEERS_PER_WINDOW = 20;

interface Pending {
  protocol: string;
  reason: string;
  count: number;
}

/** Short, PHI-free codes only: OpenSSL reason names and Node error codes. */
const code = (s: string) => s.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 80) || 'handshake-failed';

export function createRefusalAudit(opts: RefusalAuditOptions): RefusalAudit {
  const windowMs = opts.windowMs ?? DEFAULT_REFUSAL_WINDOW_MS;
  const maxPeers = opts.maxPeersPerWindow ?? DEFAULT_MAX_PEERS_PER_WINDOW;
  const clock = opts.clock ?? (() => new Date());
  /** Peers recorded in this window (their first refusal went out at once), with what came since. */
  let seen = new Map<string, Pending>();
  /** Refusals from peers beyond the per-window budget. */
  let overflow = { peers: new Set<string>(), count: 0, protocols: new Set<string>() };

  const write = (events: AuditEvent[]) => {
    if (events.length === 0) return;
    try {
      opts.append(events);
    } catch {
      /* the audit log refusing must not take a listener down; the refusal itself stands */
    }
  };

  const flush = () => {
    const now = clock();
    const events: AuditEvent[] = [];
    for (const [key, p] of seen) {
      const peer = key.slice(key.indexOf('|') + 1);
      if (p.count > 0) events.push(tlsRefusedEvent({ time: now, peer, count: p.count, protocol: p.protocol, reason: `${p.reason}; repeated within the minute` }));
    }
    if (overflow.count > 0) {
      events.push(
        tlsRefusedEvent({
          time: now,
          count: overflow.count,
          protocol: [...overflow.protocols].join('+'),
          reason: `refused handshakes from ${overflow.peers.size} more peers`,
        }),
      );
    }
    seen = new Map();
    overflow = { peers: new Set(), count: 0, protocols: new Set() };
    write(events);
  };

  const timer = setInterval(flush, windowMs);
  timer.unref();

  return {
    refused(peer, protocol, reason) {
      // Per listener and peer: a peer refused on HTTPS and on MLLP shows up on both.
      const key = `${protocol}|${peer}`;
      const p = seen.get(key);
      if (p) {
        p.count++;
        return;
      }
      if (seen.size >= maxPeers) {
        overflow.peers.add(peer);
        overflow.protocols.add(protocol);
        overflow.count++;
        return;
      }
      seen.set(key, { protocol, reason: code(reason), count: 0 });
      write([tlsRefusedEvent({ time: clock(), peer, count: 1, protocol, reason: code(reason) })]);
    },
    flush,
    stop() {
      clearInterval(timer);
      flush();
    },
  };
}
