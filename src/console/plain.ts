/**
 * Plain words for what the queue and dispatcher record: delivery errors, breaker states,
 * ages and sizes. Pure functions; the inputs carry no PHI (errors are kinds and status
 * codes, never bodies), and so do the outputs.
 */
import { STATUS_TEXT } from './strings.js';

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'the recipient refused the connection (is it running?)',
  ECONNRESET: 'the connection was cut by the recipient or the network',
  ENOTFOUND: "the recipient's name could not be found (DNS)",
  EAI_AGAIN: "the recipient's name could not be looked up (DNS not answering)",
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the recipient cannot be reached (no route to it)',
  ENETUNREACH: 'the network is unreachable (is the uplink down?)',
  UND_ERR_SOCKET: 'the connection was cut by the recipient or the network',
  UND_ERR_CONNECT_TIMEOUT: 'connecting to the recipient timed out',
  CERT_HAS_EXPIRED: "the recipient's certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the recipient's certificate is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the recipient's certificate is not trusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "the recipient's certificate does not name it",
};

/** A delivery error as recorded (e.g. "HTTP 400 (permanent)", "network error (ECONNREFUSED)") → a sentence. */
export function plainError(lastError: string | undefined, lastStatus?: number): string | undefined {
  if (lastError === undefined && lastStatus === undefined) return undefined;
  const status = lastStatus ?? Number(/HTTP (\d{3})/.exec(lastError ?? '')?.[1] ?? NaN);
  if (Number.isInteger(status) && status < 300) return undefined;
  if (Number.isInteger(status)) {
    const text = STATUS_TEXT[status];
    return `recipient answered ${status}${text ? ` (${text})` : ''}`;
  }
  const code = /\(([A-Z_]+)\)/.exec(lastError ?? '')?.[1];
  if (code && NETWORK[code]) return NETWORK[code];
  if (lastError && /^timeout after (\d+) ms/.test(lastError)) return `the recipient did not answer in time (${lastError.replace(/^timeout /, '')})`;
  if (lastError && /older than the maximum age/.test(lastError)) return `gave up: ${lastError}`;
  return lastError;
}

/** The breaker's state as the person at the console needs it. */
export function plainBreaker(state: string | undefined): { label: string; tone: 'ok' | 'warn' | 'bad' | 'idle' } {
  switch (state) {
    case 'closed':
      return { label: 'link up', tone: 'ok' };
    case 'half-open':
      return { label: 'trying the link again', tone: 'warn' };
    case 'open':
      return { label: 'link down: breaker open', tone: 'bad' };
    default:
      return { label: 'not dispatching', tone: 'idle' };
  }
}

/** 65_000 → "1 min 5 s"; whole units, two at most. */
export function plainAge(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.floor(h / 24)} days`;
}

export function plainBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** "10:42" for today, else "3 Jul 10:42" (the appliance's clock; UTC would confuse the person on shift). */
export function plainTime(iso: string | undefined, now: Date): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  if (d.toDateString() === now.toDateString()) return hm;
  return `${d.getDate()} ${d.toLocaleString('en', { month: 'short' })} ${hm}`;
}
