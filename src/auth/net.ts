/** Peer and listener addresses: loopback or not, and one spelling per IP (so allow-lists match). */
import { isIP } from 'node:net';

/** Drops the IPv4-mapped IPv6 prefix (::ffff:10.1.2.3 → 10.1.2.3) and lower-cases IPv6. */
export function normalizeIp(ip: string): string {
  const s = ip.trim().toLowerCase();
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  return m ? m[1]! : s;
}

/** A peer address on this machine only: 127.0.0.0/8 or ::1. */
export function isLoopbackIp(ip: string): boolean {
  const s = normalizeIp(ip);
  if (isIP(s) === 4) return s.startsWith('127.');
  return s === '::1' || s === '0:0:0:0:0:0:0:1';
}

/** A listen host that binds to loopback only ("localhost" included; 0.0.0.0 and :: are not). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || isLoopbackIp(h);
}
