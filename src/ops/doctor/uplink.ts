/**
 * Uplink reachability (a TCP connection to each destination's host and port) and clock skew
 * against the Date header an uplink answers with. A wrong clock breaks certificates, consent
 * periods and tree-head times; when no uplink answers, the skew check is skipped with a note.
 */
import { connect } from 'node:net';
import { fail, ok, skip, warn, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';

/** Beyond this the clock is reported (seconds): Date headers have one-second resolution. */
export const SKEW_WARN_S = 30;
/** Beyond this it fails: certificate validity and consent periods start to go wrong. */
export const SKEW_FAIL_S = 300;

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (r: string | null) => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(timeoutMs, () => done('timed out'));
    s.once('connect', () => done(null));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
  });
}

const endpoint = (url: URL) => ({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) });

export async function checkUplinks(ctx: DoctorContext): Promise<Finding[]> {
  const c = ctx.config;
  if (!c) return [skip('uplink', 'no config file: the destinations are not known (give --config)')];
  const out: Finding[] = [];
  const reachable: URL[] = [];
  for (const d of c.destinations) {
    let url: URL;
    try {
      url = new URL(d.url);
    } catch {
      out.push(fail('uplink', `${d.name}: its url is not a URL`, `fix destinations[].url for ${d.name}`));
      continue;
    }
    const { host, port } = endpoint(url);
    const r = await tcpReachable(host, port, ctx.timeoutMs);
    if (r === null) {
      out.push(ok('uplink', `${d.name}: ${host}:${port} accepts connections`));
      reachable.push(url);
    } else {
      out.push(fail('uplink', `${d.name}: ${host}:${port} is not reachable (${r}); messages wait in the queue`, 'check the network route, DNS and firewall to the destination, or ask its operator whether it is up'));
    }
  }
  out.push(await checkClock(reachable, ctx));
  return out;
}

/** Skew between this clock and the first uplink that answers with a Date header. */
export async function checkClock(urls: readonly URL[], ctx: DoctorContext): Promise<Finding> {
  for (const url of urls) {
    try {
      const before = ctx.now().getTime();
      const r = await fetch(url.origin + '/', { method: 'HEAD', signal: AbortSignal.timeout(ctx.timeoutMs) });
      const after = ctx.now().getTime();
      const date = r.headers.get('date');
      if (!date || Number.isNaN(Date.parse(date))) continue;
      // The server stamped its Date somewhere between our send and receive: compare with the midpoint.
      const skew = ((before + after) / 2 - Date.parse(date)) / 1000;
      const abs = Math.abs(skew);
      const msg = `this clock is ${abs < 1 ? 'within 1 s' : `${abs.toFixed(0)} s ${skew > 0 ? 'ahead of' : 'behind'}`} ${url.host}'s`;
      const fix = 'enable time synchronisation (`timedatectl set-ntp true`, chrony or systemd-timesyncd) and check `timedatectl status`';
      if (abs > SKEW_FAIL_S) return fail('clock', msg, fix);
      if (abs > SKEW_WARN_S) return warn('clock', msg, fix);
      return ok('clock', msg);
    } catch {
      /* this uplink did not answer over HTTP(S): try the next */
    }
  }
  return skip('clock', 'no uplink answered with a Date header, so clock skew was not measured; check `timedatectl status` by hand');
}
