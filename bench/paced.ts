/**
 * An open-loop load at a fixed rate, evenly paced: request k is due at start + k/rate, whatever
 * the answers before it did, over a pool of keep-alive connections. Latency is measured from the
 * time a request was due, so a stall shows in every request it delayed (no coordinated omission).
 * autocannon's `overallRate` is not this: each connection sends its whole per-second quota back to
 * back at the top of each second, so "half the rate" arrives as full-speed bursts.
 * The first `warmupSeconds` are sent but not counted: right after the previous phase (autocannon
 * at full speed against another server) the first ~100 ms of requests met that phase's leftovers
 * (the machine and this process still busy), not the gateway's steady state.
 */
import { Agent, request } from 'node:http';

export interface PacedResult {
  sent: number;
  ok: number;
  failed: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

export async function pacedLoad(url: string, body: string, rate: number, seconds: number, connections = 64, warmupSeconds = 1): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const target = new URL(url);
  const bytes = Buffer.from(body);
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const warmup = Math.round(rate * warmupSeconds);
  const total = warmup + Math.round(rate * seconds);
  const start = performance.now() + 50;
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  const fire = (due: number, counted: boolean) => {
    const p = new Promise<void>((resolve) => {
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/fhir+json', 'content-length': bytes.length } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (counted) {
              latencies.push(performance.now() - due);
              if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) ok++;
              else failed++;
            }
            resolve();
          });
        },
      );
      req.on('error', () => {
        if (counted) failed++;
        resolve();
      });
      req.end(bytes);
    });
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  };
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && start + (next * 1000) / rate <= now) {
        fire(start + (next * 1000) / rate, next >= warmup);
        next++;
      }
      if (next >= total) return done();
      setTimeout(tick, Math.max(0, start + (next * 1000) / rate - performance.now()));
    };
    setTimeout(tick, 50);
  });
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies.length ? +latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1) : NaN);
  return { sent: total - warmup, ok, failed, rps: Math.round(ok / seconds), p50: at(0.5), p99: at(0.99), max: at(1) };
}
