/**
 * The value-level algorithms of Microsoft's FHIR anonymizer, written from its
 * documentation (FHIR-anonymization.md) and checked against its functional tests:
 * date shift, partial redaction of dates, ages and postal codes, HMAC-SHA256
 * crypto-hash with reference-aware id hashing, AES-CBC encryption.
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { R4 } from './model.js';

export type KeyMaterial = string | Uint8Array;

export const keyBytes = (k: KeyMaterial): Buffer => (typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from(k));

// FHIR date / dateTime grammar (https://www.hl7.org/fhir/datatypes.html). Groups: 1 year, 5 month, 7 day, 8 time+zone.
const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const DATE_RE = new RegExp(`${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?`);
const DATETIME_RE = new RegExp(
  `${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?`,
);
const TIME_RE = /([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?/;

export const AGE_THRESHOLD = 89;
const SHIFT_RANGE = 50;
const SHIFT_SEED = 131;

export type DateKind = 'date' | 'dateTime' | 'instant';

/** True when the date says the person would be older than 89 today (Safe Harbor). */
function indicatesAgeOver(m: RegExpMatchArray, now: Date): boolean {
  const year = Number(m[1]);
  const month = m[5] ? Number(m[5]) : 1;
  const day = m[7] ? Number(m[7]) : 1;
  const nowY = now.getUTCFullYear();
  const nowM = now.getUTCMonth() + 1;
  const nowD = now.getUTCDate();
  const age = nowY - year - (nowM < month || (nowM === month && nowD < day) ? 1 : 0);
  return age > AGE_THRESHOLD;
}

/** Redact a date: null, or (partial) the year unless it indicates an age over 89. */
export function redactDate(value: string, kind: DateKind, partial: boolean, now: Date): string | null {
  if (!partial) return null;
  const m = value.match(kind === 'date' ? DATE_RE : DATETIME_RE);
  if (!m || !m[1]) return value;
  return indicatesAgeOver(m, now) ? null : m[1];
}

/** The documented offset: fold the UTF-8 bytes of prefix+key with seed 131 modulo 101, minus 50. */
export function dateShiftOffset(prefix: string, key: KeyMaterial): number {
  const bytes = Buffer.concat([Buffer.from(prefix, 'utf8'), keyBytes(key)]);
  let offset = 0;
  for (const b of bytes) offset = (offset * SHIFT_SEED + b) % (2 * SHIFT_RANGE + 1);
  return offset - SHIFT_RANGE;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

function shiftCalendarDate(y: number, m: number, d: number, days: number): string {
  // setUTCFullYear, not Date.UTC: years 0-99 must not be read as 1900-1999
  const base = new Date(0);
  base.setUTCFullYear(y, m - 1, d);
  base.setUTCHours(0, 0, 0, 0);
  const shifted = new Date(base.getTime() + days * 86_400_000);
  return `${pad(shifted.getUTCFullYear(), 4)}-${pad(shifted.getUTCMonth() + 1, 2)}-${pad(shifted.getUTCDate(), 2)}`;
}

export type ShiftResult = { kind: 'shifted'; value: string } | { kind: 'redacted'; value: string | null };

/**
 * Date shift: dates with a day and not indicating an age over 89 move by `offset` days;
 * a time becomes 00:00:00 (time zone kept). Others are redacted (partially if enabled).
 */
export function shiftDate(value: string, kind: DateKind, offset: number, partial: boolean, now: Date): ShiftResult {
  const m = value.match(kind === 'date' ? DATE_RE : DATETIME_RE);
  if (m && m[7] && !indicatesAgeOver(m, now)) {
    const newDate = shiftCalendarDate(Number(m[1]), Number(m[5]), Number(m[7]), offset);
    if (kind !== 'date' && m[8]) {
      let stamp = m[8];
      const t = stamp.match(TIME_RE);
      if (t) stamp = stamp.replace(t[0], t[0].replace(/\d/g, '0'));
      return { kind: 'shifted', value: newDate + stamp };
    }
    return { kind: 'shifted', value: newDate };
  }
  return { kind: 'redacted', value: redactDate(value, kind, partial, now) };
}

/** Safe Harbor zip codes: keep 3 digits (zeros for restricted areas). Returns the abstracted value. */
export function abstractPostalCode(value: string, restricted: readonly string[]): string {
  if (restricted.some((p) => value.startsWith(p))) return value.replace(/\d/g, '0');
  if (value.length >= 3) return value.slice(0, 3) + value.slice(3).replace(/\d/g, '0');
  return value;
}

export function hmacHex(input: string, key: KeyMaterial): string {
  if (input === '') return input;
  return createHmac('sha256', keyBytes(key)).update(input, 'utf8').digest('hex');
}

const RESOURCE_TYPES = Object.keys(R4.type2Parent).filter((t) => {
  const p = R4.type2Parent[t];
  return (p === 'DomainResource' || p === 'Resource') && t !== 'DomainResource';
});

const LITERAL_REFERENCE_RES = [
  new RegExp(
    `^(?<prefix>((http|https)://([A-Za-z0-9\\\\/.:%$])*)?(${RESOURCE_TYPES.join('|')})/)(?<id>[A-Za-z0-9\\-.]{1,64})(?<suffix>/_history/[A-Za-z0-9\\-.]{1,64})?$`,
  ),
  /^(?<prefix>urn:oid:)(?<id>[0-2](\.(0|[1-9][0-9]*))+)(?<suffix>)$/,
  /^(?<prefix>urn:uuid:)(?<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?<suffix>)$/,
];
const RESOURCE_TYPE_SET = new Set(RESOURCE_TYPES);

/** Hash only the id part of a literal reference (`Patient/123` → `Patient/<hmac>`), so links survive. */
export function transformReferenceId(reference: string, hash: (s: string) => string, urlLike = false): string {
  if (reference === '') return reference;
  if (reference.startsWith('#')) return `#${hash(reference.slice(1))}`;
  for (const re of LITERAL_REFERENCE_RES) {
    const m = re.exec(reference);
    if (m?.groups) return `${m.groups.prefix}${hash(m.groups.id)}${m.groups.suffix ?? ''}`;
  }
  if (urlLike) {
    // Bundle.entry.request.url: a bare type stays; a conditional query is hashed after the '?'.
    if (RESOURCE_TYPE_SET.has(reference)) return reference;
    const q = reference.indexOf('?');
    if (q > 0 && RESOURCE_TYPE_SET.has(reference.slice(0, q))) return `${reference.slice(0, q)}?_id=${hash(reference.slice(q + 1))}`;
  }
  return hash(reference);
}

/** AES-CBC (PKCS#7) with a fresh random IV, output base64(IV ‖ ciphertext), as the documented encrypt method. */
export function encryptAesBase64(plain: string, key: Buffer): string {
  if (plain === '') return plain;
  const algo = key.length === 16 ? 'aes-128-cbc' : key.length === 24 ? 'aes-192-cbc' : 'aes-256-cbc';
  const iv = randomBytes(16);
  const c = createCipheriv(algo, key, iv);
  return Buffer.concat([iv, c.update(plain, 'utf8'), c.final()]).toString('base64');
}

export const isValidAesKey = (key: Buffer) => key.length === 16 || key.length === 24 || key.length === 32;
