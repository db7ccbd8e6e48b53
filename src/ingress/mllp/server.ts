/**
 * The MLLP listener (TCP, or TLS with client certificates). Our own framer
 * rather than @medplum/hl7's Hl7Server, because we need: garbage counted and
 * skipped instead of folded into the next message; a frame-size limit that
 * never buffers the oversize frame; an idle limit that never cuts a message
 * whose ACK is pending; one message at a time per connection so ACKs leave in
 * order and only after the pipeline's durable commit; back-pressure (pause
 * reading) when a sender pipelines faster than we commit, by frames and by
 * bytes (per connection and over all connections); and a clean close.
 */
import net from 'node:net';
import tls from 'node:tls';
import { frame, MllpFramer } from './framer.js';
import { handleFrame, handleOversize, handleUnexpected, type HandleDeps, type HandledFrame, type MllpAccept, type MllpSecurityEvent } from './handle.js';
import type { AckCode, MapOptions } from '../../hl7v2/index.js';
import type { IdentityResult } from '../../auth/index.js';
import { clientNames, onTlsHandshakeFailure } from '../../pki/index.js';
import type { BreakGlassFields, MllpPeer } from './access.js';

export const DEFAULT_MAX_FRAME_BYTES = 2 * 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
/** Frames queued on one connection before we stop reading from it. */
export const DEFAULT_MAX_PENDING_FRAMES = 32;
/** Bytes received on one connection and not yet answered before we stop reading from it. */
export const DEFAULT_MAX_PENDING_BYTES_PER_CONNECTION = 16 * 1024 * 1024;
/** The same over all connections. */
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** Open connections beyond this are refused (closed at once, counted). */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** How long close() waits for in-flight messages before cutting connections. */
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

export type MllpEvent =
  | { kind: 'connection'; remote: string; tls: boolean; identity?: string; plain?: boolean }
  | MllpSecurityEvent
  | { kind: 'tls-refused'; peer: string; reason: string }
  | { kind: 'ack'; codes: AckCode[]; result: HandledFrame['result']; messageType: string; latencyMs: number }
  | { kind: 'garbage'; bytes: number }
  | { kind: 'oversize'; bytes: number }
  | { kind: 'idle-timeout' }
  | { kind: 'connection-refused'; reason: 'max-connections' }
  | { kind: 'partial-frame-dropped'; bytes: number }
  | { kind: 'socket-error'; code: string }
  | { kind: 'internal-error'; reason: string };

export interface MllpServerOptions {
  host?: string;
  port: number;
  /** When given, the listener is TLS; set requestCert/ca to authenticate clients (CN becomes the source). */
  tls?: tls.TlsOptions;
  maxFrameBytes?: number;
  idleTimeoutMs?: number;
  accept: MllpAccept;
  supportedVersions?: string[];
  isOpaqueRouted?: (messageType: string) => boolean;
  map?: MapOptions;
  maxPendingFrames?: number;
  /**
   * Byte budgets for what was received but not yet answered (queued frames, the frame being
   * handled, the partial frame in the framer). Over either, reading pauses until answers bring
   * it under; nothing is dropped. A connection with nothing awaiting an answer is never paused
   * (its one frame in progress is bounded by maxFrameBytes), so every pause ends.
   */
  maxPendingBytesPerConnection?: number;
  maxPendingBytes?: number;
  maxConnections?: number;
  closeGraceMs?: number;
  observer?: (event: MllpEvent) => void;
  now?: () => Date;
  /**
   * Who the peer of a new connection is (src/auth: identityFromCertificate over TLS,
   * identityFromMllpPeer without). When given, every message is checked against the
   * identity's roles and the identity is the source; without it, the source is the TLS
   * client CN, else MSH-3|MSH-4 (a listener used outside the gateway, e.g. in tests).
   */
  identify?: (peer: { ip: string; tls: boolean; names?: { cn?: string; san: string[] } }) => IdentityResult;
  /** Where break-glass is asked for in a message (default ZBG-1 purpose, ZBG-2 reason). */
  breakGlass?: BreakGlassFields;
}

export interface MllpStats {
  connectionsTotal: number;
  connectionsOpen: number;
  frames: number;
  acks: Record<AckCode, number>;
  accepted: number;
  duplicates: number;
  rejected: number;
  invalid: number;
  failed: number;
  garbageBytes: number;
  oversizeFrames: number;
  idleTimeouts: number;
  connectionsRefused: number;
  partialFramesDropped: number;
  socketErrors: number;
  /** Bytes received and not yet answered, over all connections (now, and the most ever). */
  pendingBytes: number;
  pendingBytesPeak: number;
  /** The most one connection ever had received and not yet answered. */
  pendingBytesPeakPerConnection: number;
  /** Times reading from a connection was paused (too many frames or bytes awaiting answers). */
  pauses: number;
}

export interface MllpServer {
  port: number;
  close(): Promise<void>;
  stats(): MllpStats;
  /** TLS listeners only: new certificates/CRL for new connections (a revocation reaches a running listener). */
  setSecureContext?(options: tls.SecureContextOptions): void;
}

type Item = { kind: 'frame'; payload: Buffer; at: number } | { kind: 'oversize'; head: Buffer; bytes: number; at: number };

/** Bytes an item holds in memory until it is answered (an oversize frame keeps only its head). */
const heldBytes = (item: Item): number => (item.kind === 'frame' ? item.payload.length : item.head.length);

interface Conn {
  socket: net.Socket;
  framer: MllpFramer;
  queue: Item[];
  busy: boolean;
  /** The identified peer, or (without opts.identify) the TLS client CN or null. */
  source: MllpPeer | string | null;
  closing: boolean;
  /** Our ACKs are not being read: the idle limit applies even though we are busy. */
  awaitingDrain: boolean;
  /** Bytes of queued and in-hand frames (released once answered). */
  frameBytes: number;
  /** Bytes the framer holds for the frame in progress. */
  framerBytes: number;
  /** We paused reading (socket.isPaused() is not reliable for a socket in flowing mode). */
  paused: boolean;
}

/** Resolves when the socket's write buffer drained, or it closed. */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function peerCn(socket: net.Socket): string | null {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return null;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' && cn ? cn : Array.isArray(cn) && cn[0] ? String(cn[0]) : null;
}

/** The connection's peer with its identity (or why it has none). */
function identifyPeer(socket: net.Socket, isTls: boolean, identify: NonNullable<MllpServerOptions['identify']>): MllpPeer {
  const ip = socket.remoteAddress ?? 'unknown';
  const names = isTls && socket instanceof tls.TLSSocket ? clientNames(socket) : undefined;
  try {
    const r = identify({ ip, tls: isTls, ...(names ? { names } : {}) });
    return r.ok ? { identity: r.identity, ip, plain: !isTls } : { refusal: r.reason, ip, plain: !isTls };
  } catch {
    return { refusal: 'the sender could not be identified', ip, plain: !isTls };
  }
}

export async function startMllpServer(opts: MllpServerOptions): Promise<MllpServer> {
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxPending = opts.maxPendingFrames ?? DEFAULT_MAX_PENDING_FRAMES;
  const connBudget = opts.maxPendingBytesPerConnection ?? DEFAULT_MAX_PENDING_BYTES_PER_CONNECTION;
  const totalBudget = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
  const graceMs = opts.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  const observe = opts.observer ?? (() => {});
  const deps: HandleDeps = {
    accept: opts.accept,
    supportedVersions: opts.supportedVersions,
    isOpaqueRouted: opts.isOpaqueRouted,
    map: opts.map,
    now: opts.now,
    breakGlass: opts.breakGlass,
    onSecurity: (e) => safeObserve(e),
  };
  const stats: MllpStats = {
    connectionsTotal: 0,
    connectionsOpen: 0,
    frames: 0,
    acks: { AA: 0, AE: 0, AR: 0, CA: 0, CE: 0, CR: 0 },
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    invalid: 0,
    failed: 0,
    garbageBytes: 0,
    oversizeFrames: 0,
    idleTimeouts: 0,
    connectionsRefused: 0,
    partialFramesDropped: 0,
    socketErrors: 0,
    pendingBytes: 0,
    pendingBytesPeak: 0,
    pendingBytesPeakPerConnection: 0,
    pauses: 0,
  };
  const conns = new Set<Conn>();
  let closing = false;
  const safeObserve = (e: MllpEvent) => {
    try {
      observe(e);
    } catch {
      /* an observer must not break the listener */
    }
  };

  /** Adds (or with a negative delta releases) bytes held for a connection. */
  const hold = (c: Conn, frameDelta: number, framerBytes: number) => {
    stats.pendingBytes += frameDelta + framerBytes - c.framerBytes;
    c.frameBytes += frameDelta;
    c.framerBytes = framerBytes;
    stats.pendingBytesPeak = Math.max(stats.pendingBytesPeak, stats.pendingBytes);
    stats.pendingBytesPeakPerConnection = Math.max(stats.pendingBytesPeakPerConnection, c.frameBytes + c.framerBytes);
  };

  /**
   * Pauses or resumes reading from a connection. Frames: pause at maxPending queued, resume
   * under half. Bytes: pause while over its own budget or the total is over, but only while an
   * answer is awaited on it — that answer releases bytes and brings it back here, so no pause
   * waits on something that never comes.
   */
  const regulate = (c: Conn) => {
    if (c.closing || c.socket.destroyed) return;
    const tooManyFrames = c.queue.length >= (c.paused ? maxPending / 2 : maxPending);
    const awaiting = c.busy || c.queue.length > 0;
    const tooManyBytes = awaiting && (c.frameBytes + c.framerBytes > connBudget || stats.pendingBytes > totalBudget);
    const pause = tooManyFrames || tooManyBytes;
    if (pause && !c.paused) {
      c.paused = true;
      stats.pauses++;
      c.socket.pause();
    } else if (!pause && c.paused) {
      c.paused = false;
      c.socket.resume();
    }
  };

  /** After bytes were released, a connection paused on the total may read again. */
  const regulateAll = () => {
    for (const c of conns) if (c.paused) regulate(c);
  };

  const pump = async (c: Conn): Promise<void> => {
    if (c.busy) return;
    c.busy = true;
    try {
      while (c.queue.length > 0) {
        const item = c.queue.shift()!;
        regulate(c);
        let handled: HandledFrame;
        try {
          handled =
            item.kind === 'frame'
              ? await handleFrame(item.payload, c.source, deps)
              : handleOversize(item.head, maxFrameBytes, opts.now?.());
        } catch {
          // handleFrame turns every expected failure into an ACK; this is a bug guard.
          safeObserve({ kind: 'internal-error', reason: 'frame handler threw' });
          handled = handleUnexpected(item.kind === 'frame' ? item.payload : item.head, opts.now?.());
        }
        stats[handled.result === 'duplicate' ? 'duplicates' : handled.result]++;
        for (const code of handled.codes) stats.acks[code]++;
        if (!c.socket.destroyed && c.socket.writable) {
          for (const ack of handled.acks) c.socket.write(frame(ack));
          // a sender that does not read its ACKs gets no more of our attention until it does
          if (c.socket.writableNeedDrain) {
            c.awaitingDrain = true;
            await drained(c.socket);
            c.awaitingDrain = false;
          }
        }
        // answered: its bytes no longer count against either budget
        hold(c, -heldBytes(item), c.framerBytes);
        regulateAll();
        if (!c.paused) regulate(c);
        safeObserve({ kind: 'ack', codes: handled.codes, result: handled.result, messageType: handled.messageType, latencyMs: Date.now() - item.at });
      }
    } finally {
      c.busy = false;
      regulate(c);
      if (c.closing && !c.socket.destroyed) c.socket.end(() => c.socket.destroy());
    }
  };

  const onConnection = (socket: net.Socket, isTls: boolean) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const source = opts.identify ? identifyPeer(socket, isTls, opts.identify) : isTls ? peerCn(socket) : null;
    const c: Conn = {
      socket,
      framer: new MllpFramer({ maxFrameBytes }),
      queue: [],
      busy: false,
      source,
      closing: false,
      awaitingDrain: false,
      frameBytes: 0,
      framerBytes: 0,
      paused: false,
    };
    conns.add(c);
    stats.connectionsTotal++;
    stats.connectionsOpen++;
    const peer = typeof source === 'object' && source !== null ? source : undefined;
    safeObserve({
      kind: 'connection',
      remote: `${socket.remoteAddress ?? ''}`,
      tls: isTls,
      ...(peer?.identity ? { identity: peer.identity.name } : {}),
      ...(peer?.plain && peer.identity ? { plain: true } : {}),
    });
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeoutMs);
    socket.on('timeout', () => {
      if ((c.busy || c.queue.length > 0) && !c.awaitingDrain) return; // an ACK is pending: not idle
      stats.idleTimeouts++;
      safeObserve({ kind: 'idle-timeout' });
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      let events;
      try {
        events = c.framer.push(chunk);
      } catch {
        safeObserve({ kind: 'internal-error', reason: 'framer threw' });
        socket.destroy();
        return;
      }
      const at = Date.now();
      let received = 0;
      for (const e of events) {
        if (e.kind === 'garbage') {
          stats.garbageBytes += e.bytes;
          safeObserve({ kind: 'garbage', bytes: e.bytes });
        } else if (e.kind === 'frame') {
          stats.frames++;
          c.queue.push({ kind: 'frame', payload: e.payload, at });
          received += e.payload.length;
        } else {
          stats.frames++;
          stats.oversizeFrames++;
          safeObserve({ kind: 'oversize', bytes: e.bytes });
          c.queue.push({ kind: 'oversize', head: e.head, bytes: e.bytes, at });
          received += e.head.length;
        }
      }
      hold(c, received, c.framer.buffered);
      regulate(c);
      if (c.queue.length > 0) void pump(c);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      stats.socketErrors++;
      safeObserve({ kind: 'socket-error', code: err.code ?? 'unknown' });
    });
    socket.on('close', () => {
      if (c.framer.inFrame) {
        stats.partialFramesDropped++;
        safeObserve({ kind: 'partial-frame-dropped', bytes: c.framer.buffered });
      }
      // the partial frame is gone; queued frames are still answered (to nobody) by pump
      hold(c, 0, 0);
      conns.delete(c);
      stats.connectionsOpen--;
      regulateAll();
    });
  };

  const server: net.Server = opts.tls
    ? tls.createServer(opts.tls, (s) => onConnection(s, true))
    : net.createServer((s) => onConnection(s, false));
  if (opts.tls) {
    onTlsHandshakeFailure(server, (f) => {
      stats.socketErrors++;
      safeObserve({ kind: 'socket-error', code: 'tls-handshake' });
      safeObserve({ kind: 'tls-refused', peer: f.peer, reason: f.reason });
    });
  }
  server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  server.on('drop', () => {
    stats.connectionsRefused++;
    safeObserve({ kind: 'connection-refused', reason: 'max-connections' });
  });
  server.on('error', () => {
    /* listen errors are reported by the listen promise below; later ones must not crash */
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;

  return {
    port,
    stats: () => ({ ...stats, acks: { ...stats.acks } }),
    ...(opts.tls ? { setSecureContext: (o: tls.SecureContextOptions) => (server as tls.Server).setSecureContext(o) } : {}),
    close: async () => {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of conns) {
        c.closing = true;
        c.socket.pause();
        if (!c.busy) c.socket.end(() => c.socket.destroy());
      }
      const timer = setTimeout(() => {
        for (const c of conns) c.socket.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}
