/**
 * HL7 v2 parsing: @medplum/core's Hl7Message.parse does the structural split
 * (segments on CR/LF, fields, repetitions, components, with the separators
 * read from MSH-1/MSH-2). What it leaves to us, and what this file adds:
 * - escape sequences are never decoded (\F\ \S\ \T\ \R\ \E\ \Xhh\ \.br\ stay raw);
 * - subcomponents are split only on request and indexed from 0 (components from 1);
 * - a repetition index past the end throws a TypeError;
 * - a trailing segment separator yields a segment named '';
 * - the v2.7 truncation character (5th MSH-2 character) is dropped silently;
 * - no validation: any text starting with "MSH" is accepted, separators may clash.
 * So we validate MSH ourselves, and read values through Hl7Seg, which splits
 * subcomponents (1-based) and decodes escapes per value, never before splitting.
 */
import { Hl7Message, type Hl7Segment } from '@medplum/core';

export interface Hl7Encoding {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+ truncation character, when MSH-2 has five characters. */
  truncation?: string;
}

export const DEFAULT_ENCODING: Hl7Encoding = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

/** The MSH fields the gateway needs (decoded; MSH-3/4/5/6 keep their components joined by '^'). */
export interface Hl7Header {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-7 as sent. */
  dateTime: string;
  /** MSH-9.1 e.g. "ADT". */
  messageCode: string;
  /** MSH-9.2 e.g. "A01". */
  triggerEvent: string;
  /** MSH-9.3 e.g. "ADT_A01". */
  messageStructure: string;
  /** "ADT^A01" (code^trigger), the key routes and the mapper use. */
  messageType: string;
  /** MSH-10. */
  controlId: string;
  /** MSH-11.1 (P, D, T). */
  processingId: string;
  /** MSH-12.1 e.g. "2.5.1". */
  version: string;
  /** MSH-15 (AL, NE, ER, SU or ''). */
  acceptAckType: string;
  /** MSH-16 (AL, NE, ER, SU or ''). */
  applicationAckType: string;
  /** MSH-18 first repetition. */
  characterSet: string;
}

/** What buildAck needs; a ParsedHl7 is one, and so is the fallback of a parse error. */
export interface AckSubject {
  encoding: Hl7Encoding;
  /** MSH-2 exactly as the sender wrote it (echoed in the ACK). */
  encodingChars: string;
  header: Hl7Header;
}

export interface ParsedHl7 extends AckSubject {
  /** The message text as received (segment separators normalized to CR). */
  text: string;
  segments: Hl7Seg[];
  /** The library's structure, for callers that want it. */
  raw: Hl7Message;
  segment(name: string): Hl7Seg | undefined;
  all(name: string): Hl7Seg[];
}

/**
 * A parse failure. `reason` names the segment/field and never quotes content,
 * so it may go into an ERR segment, a log line or an audit entry.
 * `code` is an HL7 table 0357 error code; `fallback` is what could be read of MSH
 * (for an ACK that still echoes MSH-10 when it was readable).
 */
export class Hl7ParseError extends Error {
  readonly code: string;
  readonly location: string;
  readonly fallback: AckSubject;
  constructor(reason: string, code: string, location: string, fallback: AckSubject) {
    super(reason);
    this.name = 'Hl7ParseError';
    this.code = code;
    this.location = location;
    this.fallback = fallback;
  }
}

/** HL7 table 0357 codes we use. */
export const HL7_ERROR = {
  segmentSequence: '100',
  requiredFieldMissing: '101',
  dataType: '102',
  tableValueNotFound: '103',
  unsupportedMessageType: '200',
  unsupportedEventCode: '201',
  unsupportedProcessingId: '202',
  unsupportedVersion: '203',
  duplicateKey: '205',
  internalError: '207',
} as const;

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;

/** One segment; field/component/subcomponent numbers are 1-based as in "PID-3.4.1", repetitions 0-based. */
export class Hl7Seg {
  readonly name: string;
  readonly #seg: Hl7Segment;
  readonly #enc: Hl7Encoding;
  constructor(seg: Hl7Segment, enc: Hl7Encoding) {
    this.name = seg.name;
    this.#seg = seg;
    this.#enc = enc;
  }
  /** Number of fields after the name (MSH counts MSH-1 and MSH-2). */
  get fieldCount(): number {
    return this.name === 'MSH' ? this.#seg.fields.length : this.#seg.fields.length - 1;
  }
  /** The field's text, undecoded, as it appears in the message. */
  rawField(n: number): string {
    if (this.name === 'MSH' && n === 1) return this.#enc.field;
    if (this.name === 'MSH' && n === 2) return this.#seg.fields[1]?.toString() ?? '';
    return this.#seg.getField(n)?.toString() ?? '';
  }
  readonly #cache: (string[][][] | undefined)[] = [];
  /** Repetitions of a field, each as its components, each as decoded subcomponents (computed once per field). */
  reps(n: number): string[][][] {
    let r = this.#cache[n];
    if (r === undefined) this.#cache[n] = r = this.#reps(n);
    return r;
  }
  #reps(n: number): string[][][] {
    if (this.name === 'MSH' && n <= 2) return [[[this.rawField(n)]]];
    const f = this.#seg.getField(n);
    if (!f) return [];
    const out: string[][][] = [];
    for (const rep of f.components) {
      if (rep.length === 1 && (rep[0] === '' || rep[0] === '""')) {
        out.push([]);
        continue;
      }
      out.push(rep.map((c) => c.split(this.#enc.subcomponent).map((s) => decodeEscapes(s, this.#enc))));
    }
    // a field that is entirely empty has no repetitions
    return out.length === 1 && out[0].length === 0 ? [] : out;
  }
  /** A decoded value: field n, component c, subcomponent s, repetition r ('' when absent). */
  value(n: number, c = 1, s = 1, r = 0): string {
    const rep = this.reps(n)[r];
    return rep?.[c - 1]?.[s - 1] ?? '';
  }
  /** A component with its subcomponents joined by '&' (decoded). */
  component(n: number, c = 1, r = 0): string {
    return (this.reps(n)[r]?.[c - 1] ?? []).join('&');
  }
}

/** Decodes HL7 escape sequences in one (already split) value. Unknown sequences are kept as written. */
export function decodeEscapes(s: string, enc: Hl7Encoding = DEFAULT_ENCODING): string {
  if (s === '""') return '';
  const e = enc.escape;
  if (!e || s.indexOf(e) < 0) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch !== e) {
      out += ch;
      i++;
      continue;
    }
    const end = s.indexOf(e, i + 1);
    if (end < 0) {
      out += s.slice(i);
      break;
    }
    const seq = s.slice(i + 1, end);
    const decoded = decodeSequence(seq, enc);
    out += decoded ?? e + seq + e;
    i = end + 1;
  }
  return out;
}

function decodeSequence(seq: string, enc: Hl7Encoding): string | null {
  switch (seq) {
    case 'F':
      return enc.field;
    case 'S':
      return enc.component;
    case 'T':
      return enc.subcomponent;
    case 'R':
      return enc.repetition;
    case 'E':
      return enc.escape;
    case 'P':
      return enc.truncation ?? null;
    case 'H':
    case 'N':
      return ''; // highlighting on/off: presentation only
    case '.br':
      return '\n';
  }
  if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) {
    return Buffer.from(seq.slice(1), 'hex').toString('utf8');
  }
  if (/^[CMZ]/.test(seq) || /^\.(sp|in|ti|sk|ce|fi|nf)/.test(seq)) return ''; // charset switches, formatting
  return null;
}

/** Escapes a value so it can be placed inside a field of a message with these encoding characters. */
export function encodeEscapes(s: string, enc: Hl7Encoding = DEFAULT_ENCODING): string {
  const e = enc.escape;
  let needs = s.includes('\r') || s.includes('\n');
  for (const ch of [enc.field, enc.component, enc.repetition, e, enc.subcomponent, enc.truncation ?? '']) {
    if (needs) break;
    if (ch && s.includes(ch)) needs = true;
  }
  if (!needs) return s; // nothing to escape (the common case)
  let out = '';
  for (const ch of s) {
    if (ch === e) out += e + 'E' + e;
    else if (ch === enc.field) out += e + 'F' + e;
    else if (ch === enc.component) out += e + 'S' + e;
    else if (ch === enc.subcomponent) out += e + 'T' + e;
    else if (ch === enc.repetition) out += e + 'R' + e;
    else if (enc.truncation && ch === enc.truncation) out += e + 'P' + e;
    else if (ch === '\r' || ch === '\n') out += e + '.br' + e;
    else out += ch;
  }
  return out;
}

/** Reads MSH-1/MSH-2. Returns null with a reason when they are unusable. */
function readEncoding(text: string): { enc: Hl7Encoding; chars: string } | { error: string; location: string } {
  if (!text.startsWith('MSH')) return { error: 'message does not start with an MSH segment', location: 'MSH' };
  const field = text.charAt(3);
  if (!field || /[A-Za-z0-9\r\n ]/.test(field)) return { error: 'MSH-1 (field separator) is missing or invalid', location: 'MSH-1' };
  const end = text.indexOf(field, 4);
  const chars = end < 0 ? '' : text.slice(4, end);
  if (chars.length < 4 || chars.length > 5) {
    return { error: 'MSH-2 (encoding characters) must have 4 or 5 characters', location: 'MSH-2' };
  }
  const all = field + chars;
  if (new Set(all).size !== all.length || /[A-Za-z0-9\r\n]/.test(all)) {
    return { error: 'MSH-2 (encoding characters) are repeated or alphanumeric', location: 'MSH-2' };
  }
  const enc: Hl7Encoding = {
    field,
    component: chars[0],
    repetition: chars[1],
    escape: chars[2],
    subcomponent: chars[3],
    ...(chars.length === 5 ? { truncation: chars[4] } : {}),
  };
  return { enc, chars };
}

function emptyHeader(): Hl7Header {
  return {
    sendingApplication: '',
    sendingFacility: '',
    receivingApplication: '',
    receivingFacility: '',
    dateTime: '',
    messageCode: '',
    triggerEvent: '',
    messageStructure: '',
    messageType: '',
    controlId: '',
    processingId: '',
    version: '',
    acceptAckType: '',
    applicationAckType: '',
    characterSet: '',
  };
}

function readHeader(msh: Hl7Seg): Hl7Header {
  const hd = (n: number) => (msh.reps(n)[0] ?? []).map((c) => c.join('&')).join('^').replace(/\^+$/, '');
  const code = msh.value(9, 1);
  const trigger = msh.value(9, 2);
  return {
    sendingApplication: hd(3),
    sendingFacility: hd(4),
    receivingApplication: hd(5),
    receivingFacility: hd(6),
    dateTime: msh.value(7),
    messageCode: code,
    triggerEvent: trigger,
    messageStructure: msh.value(9, 3),
    messageType: trigger ? `${code}^${trigger}` : code,
    controlId: msh.value(10),
    processingId: msh.value(11),
    version: msh.value(12),
    acceptAckType: msh.value(15).toUpperCase(),
    applicationAckType: msh.value(16).toUpperCase(),
    characterSet: msh.value(18),
  };
}

/** A best-effort header for ACKs when the message cannot be parsed: defaults, or what MSH gives. */
export function headerFallback(text: string): AckSubject {
  const t = normalize(text);
  const r = readEncoding(t);
  if ('error' in r) return { encoding: DEFAULT_ENCODING, encodingChars: '^~\\&', header: emptyHeader() };
  try {
    const firstSeg = t.split('\r', 1)[0];
    const m = Hl7Message.parse(firstSeg);
    const msh = new Hl7Seg(m.segments[0], r.enc);
    return { encoding: r.enc, encodingChars: r.chars, header: readHeader(msh) };
  } catch {
    return { encoding: r.enc, encodingChars: r.chars, header: emptyHeader() };
  }
}

/** Segment separators to CR; a leading BOM/whitespace and trailing separators removed. */
function normalize(text: string): string {
  let t = text;
  if (t.charCodeAt(0) === 0xfeff) t = t.slice(1);
  t = t.replace(/^[\s]+/, '');
  return t.replace(/\r\n|\n\r|\n/g, '\r').replace(/\r+$/, '').replace(/\r{2,}/g, '\r');
}

/**
 * Parses an HL7 v2 message. Throws Hl7ParseError (reason without PHI) when the
 * message has no usable MSH, clashing encoding characters, a malformed segment
 * name, or lacks MSH-9, MSH-10 or MSH-12.
 */
export function parseHl7(text: string): ParsedHl7 {
  const t = normalize(text);
  const r = readEncoding(t);
  if ('error' in r) {
    throw new Hl7ParseError(r.error, HL7_ERROR.requiredFieldMissing, r.location, headerFallback(''));
  }
  let raw: Hl7Message;
  try {
    raw = Hl7Message.parse(t);
  } catch {
    throw new Hl7ParseError('message structure could not be parsed', HL7_ERROR.dataType, 'MSH', headerFallback(t));
  }
  const segments = raw.segments.map((s) => new Hl7Seg(s, r.enc));
  const header = readHeader(segments[0]);
  const subject: AckSubject = { encoding: r.enc, encodingChars: r.chars, header };
  for (let i = 0; i < segments.length; i++) {
    if (!SEGMENT_NAME.test(segments[i].name)) {
      throw new Hl7ParseError(`segment ${i + 1} has an invalid name`, HL7_ERROR.segmentSequence, `segment ${i + 1}`, subject);
    }
    if (i > 0 && segments[i].name === 'MSH') {
      throw new Hl7ParseError(`segment ${i + 1} is a second MSH (batches are not accepted)`, HL7_ERROR.segmentSequence, `segment ${i + 1}`, subject);
    }
  }
  const need: [keyof Hl7Header, string][] = [
    ['messageCode', 'MSH-9 (message type)'],
    ['controlId', 'MSH-10 (message control id)'],
    ['version', 'MSH-12 (version id)'],
  ];
  for (const [key, label] of need) {
    if (!header[key]) {
      throw new Hl7ParseError(`${label} is empty`, HL7_ERROR.requiredFieldMissing, label.slice(0, label.indexOf(' ')), subject);
    }
  }
  const byName = new Map<string, Hl7Seg[]>();
  for (const s of segments) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  return {
    text: t,
    encoding: r.enc,
    encodingChars: r.chars,
    header,
    segments,
    raw,
    segment: (name) => byName.get(name)?.[0],
    all: (name) => byName.get(name) ?? [],
  };
}

/**
 * Decodes MLLP frame bytes to text. MSH-18 selects the charset: "8859/1" → latin1;
 * anything else (UNICODE UTF-8, ASCII, empty) → UTF-8, which is also ASCII-safe.
 */
export function decodeHl7Bytes(bytes: Buffer): string {
  const head = bytes.subarray(0, Math.min(bytes.length, 2048)).toString('latin1');
  const firstSeg = head.split(/[\r\n]/, 1)[0];
  if (firstSeg.startsWith('MSH') && firstSeg.length > 4) {
    const fields = firstSeg.split(firstSeg.charAt(3));
    const cs = (fields[17] ?? '').split(firstSeg.charAt(5))[0].trim().toUpperCase();
    if (cs === '8859/1') return bytes.toString('latin1');
  }
  return bytes.toString('utf8');
}
