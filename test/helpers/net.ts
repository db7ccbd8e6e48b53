/** Small networking helpers for tests and benchmarks that run real processes on loopback. */
import { createServer } from 'node:net';

/** A port that was free a moment ago (bind to 0, read it, release it). */
/**
 * A port nothing listens on now, for a server a test starts later. Chosen at random below the
 * kernel's ephemeral range (32768 and up here): a port the kernel handed out and took back is
 * soon given to some outgoing connection, and a gateway started on it then fails with "port in
 * use" on a busy machine. Never the same port twice in one test process.
 */
const handedOut = new Set<number>();
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found between 20000 and 32000');
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(fn: () => Promise<T> | T, opts: { timeoutMs?: number; everyMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(opts.everyMs ?? 50);
  }
  throw new Error(`timed out waiting for ${opts.what ?? 'a condition'}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
