/**
 * A user-space TCP proxy that makes a link fail the way thin uplinks do (the kernel here has no
 * netem). It sits between the gateway and the simulator and injects, switchable at any time:
 *   latency + jitter (per direction, order kept), a bandwidth cap (shared by all connections,
 *   per direction, like one modem), a reset mid-body (after N bytes upstream), a blackhole
 *   (accept, then silence), half-open connections (the request arrives, the answer never
 *   comes back), slow responses, and TLS handshake failures (garbage instead of a ServerHello).
 * With `tls` it terminates TLS itself and forwards plain bytes, so a gateway can use https.
 * Bursts of 5xx/429 with Retry-After are the simulator's (its /_sim/control `burst`).
 * It counts the bytes that crossed it in each direction (headers included).
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';

export interface Faults {
  /** One-way delay added to every chunk, each direction (RTT ≈ 2 × this). */
  latencyMs: number;
  /** ± uniformly random extra delay (order within a connection is kept). */
  jitterMs: number;
  /** Bytes per second per direction, shared by all connections (0 = no cap). */
  bandwidthBytesPerSec: number;
  /** Reset the connection once this many bytes went upstream on it (0 = never). */
  resetAfterBytes: number;
  /** Reset every open connection this often (0 = never): a link that drops every few seconds. */
  resetEveryMs: number;
  /** Accept connections, forward nothing, answer nothing. */
  blackhole: boolean;
  /** Forward the request, never send the answer back (the connection stays open). */
  halfOpen: boolean;
  /** Extra delay before the first answer byte of each connection. */
  slowResponseMs: number;
  /** Answer new connections with garbage instead of a TLS handshake (tls mode), or close them (plain). */
  tlsFail: boolean;
}

export const NO_FAULTS: Faults = {
  latencyMs: 0,
  jitterMs: 0,
  bandwidthBytesPerSec: 0,
  resetAfterBytes: 0,
  resetEveryMs: 0,
  blackhole: false,
  halfOpen: false,
  slowResponseMs: 0,
  tlsFail: false,
};

export interface ChaosStats {
  connections: number;
  /** Bytes client → server that reached the proxy (what the gateway put on the wire). */
  bytesUp: number;
  bytesDown: number;
  resets: number;
}

export interface ChaosProxy {
  port: number;
  url: string;
  faults: Faults;
  stats: ChaosStats;
  set(change: Partial<Faults>): void;
  resetStats(): void;
  stop(): Promise<void>;
}

export interface ChaosOptions {
  targetHost?: string;
  targetPort: number;
  /** Terminate TLS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  faults?: Partial<Faults>;
  random?: () => number;
}

/** One direction of the link: a shared serialisation clock (bandwidth) plus latency. */
class Direction {
  private freeAt = 0;
  constructor(
    private readonly faults: Faults,
    private readonly random: () => number,
  ) {}

  /** When a chunk of `bytes` handed over now arrives at the far end. */
  arrival(bytes: number, notBefore: number): number {
    const now = Date.now();
    let leaves = now;
    if (this.faults.bandwidthBytesPerSec > 0) {
      leaves = Math.max(now, this.freeAt) + (bytes / this.faults.bandwidthBytesPerSec) * 1000;
      this.freeAt = leaves;
    }
    const jitter = this.faults.jitterMs > 0 ? (this.random() * 2 - 1) * this.faults.jitterMs : 0;
    return Math.max(notBefore, leaves + Math.max(0, this.faults.latencyMs + jitter));
  }
}

export async function startChaosProxy(opts: ChaosOptions): Promise<ChaosProxy> {
  const faults: Faults = { ...NO_FAULTS, ...opts.faults };
  const random = opts.random ?? Math.random;
  const stats: ChaosStats = { connections: 0, bytesUp: 0, bytesDown: 0, resets: 0 };
  const up = new Direction(faults, random);
  const down = new Direction(faults, random);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (at: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, Math.max(0, at - Date.now()));
    timers.add(t);
  };
  /**
   * One direction of one connection: chunks leave strictly in the order they came. A timer per chunk
   * is not enough: timers are due by the event loop's cached clock, so a tiny chunk handled later in
   * the same turn (its delay computed from a newer Date.now) can fire before the big one ahead of it,
   * and the far end gets the bytes reordered.
   */
  const inOrder = () => {
    const queue: { at: number; run: () => void }[] = [];
    let armed = false;
    const drain = () => {
      armed = false;
      while (queue.length && queue[0]!.at <= Date.now()) queue.shift()!.run();
      if (queue.length) arm();
    };
    const arm = () => {
      armed = true;
      later(queue[0]!.at, drain);
    };
    return (at: number, run: () => void) => {
      queue.push({ at, run });
      if (!armed) arm();
    };
  };

  const cutters = new Set<() => void>();
  let lastCut = Date.now();
  const ticker = setInterval(() => {
    if (faults.resetEveryMs > 0 && Date.now() - lastCut >= faults.resetEveryMs) {
      lastCut = Date.now();
      for (const cut of [...cutters]) cut();
    }
  }, 50);

  function pipe(client: Socket): void {
    stats.connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (faults.blackhole) {
      client.on('data', () => {}); // read and drop: the sender sees its bytes go, nothing comes back
      return;
    }
    const server = net.connect({ host: opts.targetHost ?? '127.0.0.1', port: opts.targetPort });
    sockets.add(server);
    server.on('close', () => sockets.delete(server));
    server.on('error', () => client.destroy());
    const halfOpen = faults.halfOpen;
    let upBytes = 0;
    let upLast = 0;
    let downLast = 0;
    let firstDown = true;
    let cut = false;
    const upQueue = inOrder();
    const downQueue = inOrder();
    const cutBoth = () => {
      if (cut) return;
      cut = true;
      stats.resets++;
      // A TCP reset where the socket can send one; a TLS socket (over its raw socket) cannot: closed.
      try {
        (client as Socket & { resetAndDestroy?: () => void }).resetAndDestroy?.() ?? client.destroy();
      } catch {
        client.destroy();
      }
      server.destroy();
    };
    cutters.add(cutBoth);
    client.on('close', () => cutters.delete(cutBoth));
    client.on('data', (chunk: Buffer) => {
      if (cut) return;
      stats.bytesUp += chunk.length;
      upBytes += chunk.length;
      if (faults.resetAfterBytes > 0 && upBytes >= faults.resetAfterBytes) {
        // Part of the body made it across before the link died.
        const keep = chunk.subarray(0, Math.max(0, chunk.length - (upBytes - faults.resetAfterBytes)));
        if (keep.length) server.write(keep);
        cutBoth();
        return;
      }
      upLast = up.arrival(chunk.length, upLast);
      upQueue(upLast, () => !cut && !server.destroyed && server.write(chunk));
    });
    server.on('data', (chunk: Buffer) => {
      if (cut || halfOpen) return; // half-open: the answer is lost on the way back
      stats.bytesDown += chunk.length;
      let notBefore = downLast;
      if (firstDown && faults.slowResponseMs > 0) notBefore = Math.max(notBefore, Date.now() + faults.slowResponseMs);
      firstDown = false;
      downLast = down.arrival(chunk.length, notBefore);
      downQueue(downLast, () => !cut && !client.destroyed && client.write(chunk));
    });
    client.on('end', () => upQueue(upLast, () => server.end()));
    server.on('end', () => !halfOpen && downQueue(downLast, () => client.end()));
    client.on('close', () => upQueue(upLast, () => server.destroy()));
    server.on('close', () => !halfOpen && downQueue(downLast, () => client.destroy()));
  }

  const onRaw = (raw: Socket) => {
    if (faults.tlsFail) {
      raw.on('error', () => {});
      // Bytes that are no ServerHello: the client's handshake fails. Without tls: just a closed connection.
      if (opts.tls) raw.once('data', () => raw.end(Buffer.from('\x15\x03\x03\x00\x02\x02\x28garbage')));
      else raw.destroy();
      return;
    }
    if (!opts.tls) return pipe(raw);
    const secure = new tls.TLSSocket(raw, { isServer: true, key: opts.tls.key, cert: opts.tls.cert });
    secure.on('error', () => raw.destroy());
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    secure.once('secure', () => pipe(secure as unknown as Socket));
  };
  const listener = net.createServer(onRaw);
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  return {
    port,
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    faults,
    stats,
    set: (change) => void Object.assign(faults, change),
    resetStats: () => void Object.assign(stats, { connections: 0, bytesUp: 0, bytesDown: 0, resets: 0 }),
    stop: () =>
      new Promise<void>((resolve) => {
        clearInterval(ticker);
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const s of sockets) s.destroy();
        listener.close(() => resolve());
      }),
  };
}
