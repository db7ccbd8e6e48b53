/**
 * Ports: each configured listener can be bound, or is held by a running darwaza (its admin
 * listener answers /healthz). A port held by something else, or one the user may not bind
 * (below 1024 without the capability), fails with the fix.
 */
import { createServer } from 'node:net';
import type { HostPort } from '../../config/index.js';
import { fail, ok, skip, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';

/** Binds and releases host:port: null when free, else the error code. */
export function tryBind(hp: HostPort): Promise<string | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    s.listen(hp.port, hp.host, () => s.close(() => resolve(null)));
  });
}

async function adminAnswers(hp: HostPort, timeoutMs: number): Promise<boolean> {
  try {
    const r = await fetch(`http://${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.ok && ((await r.json()) as { status?: string }).status === 'ok';
  } catch {
    return false;
  }
}

export async function checkPorts(ctx: DoctorContext): Promise<Finding[]> {
  const c = ctx.config;
  if (!c) return [skip('ports', 'no config file: the listeners are not known (give --config)')];
  const listeners: Array<[string, string, HostPort]> = [
    ['LAN API', 'listen.lan', c.listen.lan],
    ['admin', 'listen.admin', c.listen.admin],
    ...(c.listen.mllp ? [['MLLP', 'listen.mllp', c.listen.mllp] as [string, string, HostPort]] : []),
  ];
  const results = await Promise.all(listeners.map(async ([, , hp]) => tryBind(hp)));
  const busy = results.some((r) => r === 'EADDRINUSE');
  const running = busy && (await adminAnswers(c.listen.admin, ctx.timeoutMs));
  return listeners.map(([what, field, hp], i): Finding => {
    const at = `${hp.host}:${hp.port}`;
    const r = results[i];
    if (r === null) return ok('ports', `${what} ${at} is free to bind`);
    if (r === 'EADDRINUSE') {
      return running
        ? ok('ports', `${what} ${at} is held by the running gateway (its admin listener answers)`)
        : fail('ports', `${what} ${at} is in use by another program`, `stop that program (\`ss -ltnp 'sport = :${hp.port}'\` names it) or choose another port in ${field}`);
    }
    if (r === 'EACCES') {
      return fail('ports', `${what} ${at}: this user may not bind it`, `use a port above 1024, or give the service CAP_NET_BIND_SERVICE (AmbientCapabilities= in its unit)`);
    }
    if (r === 'EADDRNOTAVAIL') return fail('ports', `${what} ${at}: this machine has no such address`, `set ${field} to an address of this machine`);
    return fail('ports', `${what} ${at}: cannot bind (${r})`, `check ${field}`);
  });
}
