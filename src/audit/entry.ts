/**
 * Turns an AuditEvent into a versioned, PHI-free audit entry: an allow-list of
 * fields, each checked for shape. The entry's canonical JSON is the Merkle leaf.
 *
 * - Unknown fields are dropped (never stored), so free text cannot slip in under
 *   a new name. They are counted (AuditLog.stats().strippedFields) for operators.
 * - Identifier-like fields (ids, names of systems, codes) must match a narrow
 *   character set and length; a value that does not is refused with an error
 *   naming the field (the caller's transaction then rolls back: fail closed).
 * - `reason` is plain words: whitespace collapsed, characters outside a small set
 *   removed, words that look like identifiers (3+ digits, '@', a FHIR reference
 *   "Type/id") replaced by "[redacted]", and the result capped at REASON_MAX chars.
 *   Names cannot be recognised by pattern: callers pass rule/consent texts only,
 *   never message content.
 */
import type { AuditEvent, AuditEventType, AuditFields } from '../model/index.js';
import { canonicalJson } from './canonical.js';

export const ENTRY_VERSION = 1;
export const REASON_MAX = 200;
export const ID_MAX = 128;
export const LIST_MAX = 64;

export const AUDIT_EVENT_TYPES: readonly AuditEventType[] = [
  'received',
  'decided',
  'queued',
  'consent-withdrawn',
  'delivered',
  'dead-lettered',
  'purged',
  'policy-activated',
  'key-rotated',
  'config-changed',
  'admin-action',
  'access-denied',
  'break-glass',
  'tls-refused',
  'policy-refused',
  'integrity-failure',
  'log-continued',
];

/** What is hashed and stored: an AuditEvent's allowed fields plus the format version. */
export type AuditEntry = AuditFields & { event: AuditEventType; v: number };

export class AuditEventError extends Error {
  override name = 'AuditEventError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`audit event field "${field}": ${message}`);
  }
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
/** Ids, codes and system names: no spaces except where a system name needs one. */
const ID_CHARS = /^[A-Za-z0-9._:/@|+=#~-]+$/;
const NAME_CHARS = /^[A-Za-z0-9 ._:/@|+=#~-]+$/;
const TOKEN = /^[A-Za-z0-9_-]{16,128}={0,2}$/;

/** True for a patient token's shape (a keyed hash in base64url), as audit entries require. */
export function isPatientToken(value: string): boolean {
  return TOKEN.test(value);
}
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

type FieldRule = (value: unknown, field: string) => unknown;

const idField =
  (chars: RegExp): FieldRule =>
  (value, field) => {
    if (typeof value !== 'string') throw new AuditEventError(field, 'must be a string');
    if (value.length === 0 || value.length > ID_MAX) throw new AuditEventError(field, `must be 1–${ID_MAX} characters`);
    if (!chars.test(value)) throw new AuditEventError(field, 'contains characters not allowed in an identifier');
    return value;
  };

const listField =
  (item: FieldRule): FieldRule =>
  (value, field) => {
    if (!Array.isArray(value)) throw new AuditEventError(field, 'must be an array of strings');
    if (value.length > LIST_MAX) throw new AuditEventError(field, `has more than ${LIST_MAX} items`);
    return value.map((v, i) => item(v, `${field}[${i}]`));
  };

const RULES: Record<keyof AuditFields | 'event', FieldRule> = {
  event: (value, field) => {
    if (typeof value !== 'string' || !(AUDIT_EVENT_TYPES as readonly string[]).includes(value)) {
      throw new AuditEventError(field, `must be one of ${AUDIT_EVENT_TYPES.join(', ')}`);
    }
    return value;
  },
  time: (value, field) => {
    if (typeof value !== 'string' || !ISO_INSTANT.test(value) || Number.isNaN(Date.parse(value))) {
      throw new AuditEventError(field, 'must be an ISO-8601 instant');
    }
    return new Date(value).toISOString();
  },
  messageId: idField(ID_CHARS),
  source: idField(NAME_CHARS),
  destination: idField(NAME_CHARS),
  purpose: idField(ID_CHARS),
  decision: idField(ID_CHARS),
  ruleIds: listField(idField(ID_CHARS)),
  policySha256: (value, field) => {
    if (typeof value !== 'string' || !SHA256_HEX.test(value)) throw new AuditEventError(field, 'must be 64 hex digits');
    return value.toLowerCase();
  },
  /** The policy pack's de-identification profiles' hash (decided entries). */
  profilesSha256: (value, field) => {
    if (typeof value !== 'string' || !SHA256_HEX.test(value)) throw new AuditEventError(field, 'must be 64 hex digits');
    return value.toLowerCase();
  },
  /** The gateway configuration's hash (config-changed entries). */
  configSha256: (value, field) => {
    if (typeof value !== 'string' || !SHA256_HEX.test(value)) throw new AuditEventError(field, 'must be 64 hex digits');
    return value.toLowerCase();
  },
  consentId: idField(ID_CHARS),
  consentVersion: idField(ID_CHARS),
  patientToken: (value, field) => {
    if (typeof value !== 'string' || !TOKEN.test(value)) {
      throw new AuditEventError(field, 'must be a base64url token (a keyed hash), never an identity');
    }
    return value;
  },
  dataClasses: listField(idField(ID_CHARS)),
  reason: (value, field) => {
    if (typeof value !== 'string') throw new AuditEventError(field, 'must be a string');
    return plainReason(value);
  },
  actor: idField(NAME_CHARS),
  protocol: idField(ID_CHARS),
  peer: idField(ID_CHARS),
  count: (value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new AuditEventError(field, 'must be a positive integer');
    return value;
  },
  plain: (value, field) => {
    if (typeof value !== 'boolean') throw new AuditEventError(field, 'must be true or false');
    return value;
  },
  claimedSource: idField(NAME_CHARS),
  action: idField(ID_CHARS),
  route: idField(NAME_CHARS),
  priorTreeSize: (value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new AuditEventError(field, 'must be a positive integer');
    return value;
  },
  priorRootHash: (value, field) => {
    if (typeof value !== 'string' || !SHA256_HEX.test(value)) throw new AuditEventError(field, 'must be 64 hex digits');
    return value.toLowerCase();
  },
  priorKeyId: idField(ID_CHARS),
};

const ALLOWED = Object.keys(RULES) as Array<keyof typeof RULES>;

/** Reduces free text to PHI-free plain words (see the file comment). */
export function plainReason(text: string): string {
  const words = text
    .replace(/\s+/g, ' ')
    .trim()
    .split(' ')
    .map((w) => {
      const digits = (w.match(/[0-9]/g) ?? []).length;
      if (digits >= 3 || w.includes('@') || /[A-Za-z]+\/[A-Za-z0-9.-]+/.test(w)) return '[redacted]';
      return w.replace(/[^A-Za-z0-9.,:;()'_+-]/g, '');
    })
    .filter((w) => w.length > 0);
  // collapse runs of [redacted]
  const out: string[] = [];
  for (const w of words) if (!(w === '[redacted]' && out[out.length - 1] === '[redacted]')) out.push(w);
  let s = out.join(' ');
  if (s.length > REASON_MAX) s = `${s.slice(0, REASON_MAX - 1).replace(/\s+\S*$/, '')}…`;
  return s;
}

export interface NormalizeResult {
  entry: AuditEntry;
  /** Names of fields that were dropped because they are not in the allow-list. */
  stripped: string[];
}

/** Validates and normalises one event; throws AuditEventError naming the field. */
export function toEntry(event: AuditEvent): NormalizeResult {
  if (typeof event !== 'object' || event === null) throw new AuditEventError('event', 'must be an object');
  const raw = event as unknown as Record<string, unknown>;
  const entry: Record<string, unknown> = { v: ENTRY_VERSION };
  const stripped: string[] = [];
  for (const key of Object.keys(raw)) {
    if (raw[key] === undefined) continue;
    if (!(ALLOWED as string[]).includes(key)) {
      stripped.push(key);
      continue;
    }
    const value = RULES[key as keyof typeof RULES](raw[key], key);
    if (key === 'reason' && value === '') continue;
    entry[key] = value;
  }
  if (entry.event === undefined) throw new AuditEventError('event', 'is required');
  if (entry.time === undefined) throw new AuditEventError('time', 'is required');
  return { entry: entry as unknown as AuditEntry, stripped };
}

/** The exact bytes that become the Merkle leaf. */
export const entryText = (entry: AuditEntry): string => canonicalJson(entry);

/**
 * Parses a stored entry and checks it is canonical and well-formed (verifier side).
 * Returns the entry, or a reason it is not acceptable.
 */
export function parseEntry(text: string): { ok: true; entry: AuditEntry } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'entry is not valid JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'entry is not a JSON object' };
  }
  if (isCanonicalText(parsed, text)) return { ok: true, entry: parsed as AuditEntry };
  try {
    if (canonicalJson(parsed) !== text) return { ok: false, reason: 'entry is not in canonical form' };
  } catch {
    return { ok: false, reason: 'entry is not in canonical form' };
  }
  return { ok: true, entry: parsed as AuditEntry };
}

/**
 * The fast form of `canonicalJson(parsed) === text`, for verify's million entries: for a value
 * JSON.parse made, canonical JSON and JSON.stringify differ only in key order (both escape
 * strings and print finite numbers alike; a non-finite number cannot survive the stringify
 * comparison). So when stringify gives back the text and every object's keys come out sorted,
 * the text is canonical. When this says no, the caller asks the exact encoder (integer-like
 * keys, which JavaScript enumerates numerically, land there).
 */
function isCanonicalText(parsed: unknown, text: string): boolean {
  return JSON.stringify(parsed) === text && keysSorted(parsed);
}

function keysSorted(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) return value.every(keysSorted);
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && !(keys[i - 1] < keys[i])) return false;
    if (!keysSorted((value as Record<string, unknown>)[keys[i]])) return false;
  }
  return true;
}
