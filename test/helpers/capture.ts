/**
 * A stand-in upstream that keeps the raw bytes of every request it gets (headers and
 * body) and answers 200, or forwards each request to another server (the upstream
 * simulator) and answers what it answered: a tap on the wire between gateway and upstream.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw header block as received (names and values). */
  rawHeaders: string;
  body: Buffer;
  /** What we answered. */
  status: number;
}

export interface CaptureServer {
  port: number;
  captured: CapturedRequest[];
  stop(): Promise<void>;
}

export function startCaptureServer(port: number, opts: { forwardTo?: number } = {}): Promise<CaptureServer> {
  const captured: CapturedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const entry: CapturedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders.join('\n'), body, status: 200 };
      captured.push(entry);
      if (opts.forwardTo === undefined) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":true}');
        return;
      }
      try {
        const headers: Record<string, string> = {};
        for (const h of ['content-type', 'idempotency-key']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
        const r = await fetch(`http://127.0.0.1:${opts.forwardTo}${req.url}`, { method: req.method, headers, body: req.method === 'GET' ? undefined : body });
        entry.status = r.status;
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
      } catch {
        entry.status = 0;
        req.socket.destroy();
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        captured,
        stop: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
