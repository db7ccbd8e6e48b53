/**
 * FHIR date/dateTime values as instant ranges.
 *
 * A FHIR dateTime may be partial: "2026", "2026-03", "2026-03-15", or a full
 * time that SHALL carry an offset ("2026-03-15T10:00:00+05:00", "...Z").
 * A partial value stands for the whole year/month/day in the appliance's
 * timezone (DEFAULT_TIMEZONE, Asia/Karachi, +05:00): a period start takes the
 * first millisecond of that span, a period end its last millisecond (inclusive).
 * A full value is that instant; as an end it covers its whole stated precision
 * (an end of "10:00:00+05:00" includes 10:00:00.999).
 */

import { DEFAULT_TIMEZONE } from '../config/index.js';

export { DEFAULT_TIMEZONE };

const DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

export interface InstantRange {
  /** First millisecond covered (epoch ms). */
  start: number;
  /** Last millisecond covered (epoch ms, inclusive). */
  end: number;
}

const offsetCache = new Map<string, Intl.DateTimeFormat>();

/** Offset (minutes east of UTC) of `timezone` at the given UTC instant. Accepts IANA names or "+05:00". */
export function zoneOffsetMinutes(timezone: string, utcMs: number): number {
  const fixed = /^([+-])(\d{2}):(\d{2})$/.exec(timezone);
  if (fixed) return (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3]));
  if (timezone === 'UTC' || timezone === 'Z') return 0;
  // Intl's formatToParts is the costly part, and the message path asks about "now" in the
  // appliance's zone for every message: remembered per zone and UTC minute. Offsets change on
  // whole minutes (tzdb transitions since standard time began), so a minute has one offset.
  const minute = Math.floor(utcMs / 60_000);
  const key = `${timezone} ${minute}`;
  const known = offsetByMinute.get(key);
  if (known !== undefined) return known;
  let fmt = offsetCache.get(timezone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' });
    offsetCache.set(timezone, fmt);
  }
  const name = fmt.formatToParts(new Date(minute * 60_000)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  const offset = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) : 0;
  if (offsetByMinute.size >= OFFSET_MEMO_MAX) offsetByMinute.clear();
  offsetByMinute.set(key, offset);
  return offset;
}

/** Bounds the memo: past dates (birth dates, consent periods) are many, "now" is one per minute. */
const OFFSET_MEMO_MAX = 10_000;
const offsetByMinute = new Map<string, number>();

/** True when `timezone` is usable (IANA name known to this Node, or a fixed ±hh:mm offset). */
export function isValidTimezone(timezone: string): boolean {
  if (/^[+-]\d{2}:\d{2}$/.test(timezone) || timezone === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

const midnightCache = new Map<string, number>();
const MIDNIGHT_CACHE_MAX = 50_000;

/** Epoch ms of local wall time (y, m 1-12, d, 00:00) in `timezone` (memoised: Intl is slow). */
function localMidnight(y: number, m: number, d: number, timezone: string): number {
  const key = `${timezone}|${y}|${m}|${d}`;
  let v = midnightCache.get(key);
  if (v === undefined) {
    if (midnightCache.size >= MIDNIGHT_CACHE_MAX) midnightCache.clear();
    v = computeLocalMidnight(y, m, d, timezone);
    midnightCache.set(key, v);
  }
  return v;
}

function computeLocalMidnight(y: number, m: number, d: number, timezone: string): number {
  const guess = Date.UTC(y, m - 1, d);
  // Two passes settle the offset around DST changes (Pakistan has none today).
  let off = zoneOffsetMinutes(timezone, guess);
  off = zoneOffsetMinutes(timezone, guess - off * 60_000);
  return guess - off * 60_000;
}

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

const parsedCache = new Map<string, InstantRange | null>();
const PARSED_CACHE_MAX = 10_000;

/** Parses a FHIR date or dateTime into the span it covers; null when it is not a valid value. Memoised. */
export function parseFhirDateTime(value: unknown, timezone = DEFAULT_TIMEZONE): InstantRange | null {
  if (typeof value !== 'string') return null;
  const key = `${timezone}\u0000${value}`;
  const hit = parsedCache.get(key);
  if (hit !== undefined) return hit;
  if (parsedCache.size >= PARSED_CACHE_MAX) parsedCache.clear();
  const r = parseUncached(value, timezone);
  parsedCache.set(key, r === null ? null : Object.freeze(r));
  return r;
}

function parseUncached(value: string, timezone: string): InstantRange | null {
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = m[2] === undefined ? undefined : Number(m[2]);
  const d = m[3] === undefined ? undefined : Number(m[3]);
  if (mo !== undefined && (mo < 1 || mo > 12)) return null;
  if (d !== undefined && (d < 1 || d > daysInMonth(y, mo!))) return null;
  if (m[4] !== undefined) {
    const hh = Number(m[4]);
    const mi = Number(m[5]);
    const ss = Number(m[6]);
    if (hh > 23 || mi > 59 || ss > 60) return null;
    const tz = m[8]!;
    const off = tz === 'Z' ? 0 : zoneOffsetMinutes(tz, 0);
    if (tz !== 'Z' && (Math.abs(off) > 14 * 60 || Number(tz.slice(4, 6)) > 59)) return null;
    const frac = m[7] ? Number(m[7].slice(0, 4)) * 1000 : 0;
    const start = Date.UTC(y, mo! - 1, d!, hh, mi, Math.min(ss, 59)) - off * 60_000 + Math.floor(frac);
    const precision = m[7] ? 1 : 1000;
    return { start, end: start + precision - 1 };
  }
  if (d !== undefined) {
    const start = localMidnight(y, mo!, d, timezone);
    const next = new Date(Date.UTC(y, mo! - 1, d + 1));
    const end = localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timezone) - 1;
    return { start, end };
  }
  if (mo !== undefined) {
    return { start: localMidnight(y, mo, 1, timezone), end: localMidnightNextMonth(y, mo, timezone) - 1 };
  }
  return { start: localMidnight(y, 1, 1, timezone), end: localMidnight(y + 1, 1, 1, timezone) - 1 };
}

function localMidnightNextMonth(y: number, m: number, timezone: string): number {
  return m === 12 ? localMidnight(y + 1, 1, 1, timezone) : localMidnight(y, m + 1, 1, timezone);
}

/** A compiled Period: [start, end] inclusive epoch ms; open ends are ±Infinity. */
export interface CompiledPeriod {
  start: number;
  end: number;
}

export function compilePeriod(
  period: { start?: unknown; end?: unknown },
  timezone: string,
): CompiledPeriod | { error: 'start' | 'end' | 'order' } {
  let start = -Infinity;
  let end = Infinity;
  if (period.start !== undefined) {
    const r = parseFhirDateTime(period.start, timezone);
    if (!r) return { error: 'start' };
    start = r.start;
  }
  if (period.end !== undefined) {
    const r = parseFhirDateTime(period.end, timezone);
    if (!r) return { error: 'end' };
    end = r.end;
  }
  if (start > end) return { error: 'order' };
  return { start, end };
}
