/**
 * Acknowledgements: building one ACK message, and the pure decision of which
 * ACKs a message gets (original vs enhanced mode, MSH-15/MSH-16).
 */
import { randomBytes } from 'node:crypto';
import { encodeEscapes, type AckSubject } from './parse.js';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

export interface AckOptions {
  /** MSH-10 of the ACK itself (a new id); generated when absent. */
  controlId?: string;
  /** MSA-3 text (no PHI); escaped with the sender's encoding characters. */
  text?: string;
  /** HL7 table 0357 code; an ERR segment is added when given (and always for AE/AR/CE/CR). */
  errorCode?: string;
  /** ERR location, e.g. "MSH-12" or "PID-3". */
  errorLocation?: string;
  /** Clock for MSH-7. */
  now?: Date;
}

const DEFAULT_TEXT: Record<AckCode, string> = {
  AA: 'Message accepted',
  AE: 'Application error',
  AR: 'Application reject',
  CA: 'Commit accept',
  CE: 'Commit error',
  CR: 'Commit reject',
};

const ERROR_TEXT: Record<string, string> = {
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '205': 'Duplicate key identifier',
  '207': 'Application internal error',
};

let counter = 0;
/** Random per process, so two processes (or a restart) never hand out the same id in the same millisecond. */
const PROCESS_TAG = randomBytes(3).toString('hex');
/** A new ACK control id: ≤ 20 characters (the v2.5 limit of MSH-10), unique per process and run. */
export function newControlId(now = Date.now()): string {
  counter = (counter + 1) % 1679616; // 36^4
  return `D${now.toString(36)}${PROCESS_TAG}${counter.toString(36).padStart(4, '0')}`.slice(0, 20);
}

/** HL7 DTM of an instant, UTC, second precision with +0000. */
export function hl7Timestamp(d: Date): string {
  const iso = d.toISOString();
  return iso.slice(0, 19).replace(/[-:T]/g, '') + '+0000';
}

/** Versions before 2.5 use ERR-1 (ELD); from 2.5 on ERR-2/3/4/8. */
function versionAtLeast(v: string, major: number, minor: number): boolean {
  const [a, b] = v.split('.').map((x) => parseInt(x, 10));
  if (!Number.isFinite(a)) return true;
  return a > major || (a === major && (b || 0) >= minor);
}

/**
 * Builds one ACK for a message (or for what could be read of it). MSH-3/4 and
 * MSH-5/6 are swapped, MSH-9 is ACK^<trigger>^ACK, MSH-11/12 are echoed, MSA-2
 * echoes MSH-10, and the sender's own encoding characters are used.
 */
export function buildAck(msg: AckSubject, code: AckCode, opts: AckOptions = {}): string {
  const enc = msg.encoding;
  const h = msg.header;
  const f = enc.field;
  const esc = (s: string) => encodeEscapes(s, enc);
  // HD values were read with '^'/'&' joins; write them back with the sender's separators.
  const hd = (s: string) => s.split('^').map((c) => c.split('&').map(esc).join(enc.subcomponent)).join(enc.component);
  const now = opts.now ?? new Date();
  const type = h.triggerEvent ? ['ACK', h.triggerEvent, 'ACK'].join(enc.component) : 'ACK';
  const enhanced = h.acceptAckType !== '' || h.applicationAckType !== '';
  const msh = [
    'MSH',
    msg.encodingChars,
    hd(h.receivingApplication),
    hd(h.receivingFacility),
    hd(h.sendingApplication),
    hd(h.sendingFacility),
    hl7Timestamp(now),
    '',
    type,
    esc(opts.controlId ?? newControlId(now.getTime())),
    esc(h.processingId || 'P'),
    esc(h.version || '2.5.1'),
    '',
    '',
    enhanced ? 'NE' : '',
    enhanced ? 'NE' : '',
  ];
  while (msh[msh.length - 1] === '') msh.pop();
  // MSH-1 is the separator itself: "MSH" + "|" + MSH-2 ...
  const mshText = msh[0] + f + msh.slice(1).join(f);
  const text = opts.text ?? DEFAULT_TEXT[code];
  const segs = [mshText, ['MSA', code, esc(h.controlId), esc(text)].join(f)];
  const isError = code !== 'AA' && code !== 'CA';
  if (opts.errorCode || isError) {
    const ec = opts.errorCode ?? '207';
    const et = ERROR_TEXT[ec] ?? 'Error';
    const loc = parseLocation(opts.errorLocation);
    const c = enc.component;
    const s = enc.subcomponent;
    if (versionAtLeast(h.version, 2, 5)) {
      // ERR-1 (empty) | ERR-2 location | ERR-3 code | ERR-4 severity | … | ERR-8 user message
      const erl = loc ? [loc.seg, '1', loc.field].join(c) : '';
      segs.push(['ERR', '', erl, [ec, esc(et), 'HL70357'].join(c), 'E', '', '', '', esc(text)].join(f));
    } else {
      // ERR-1 ELD: segment ^ sequence ^ field ^ code&text&HL70357
      const eld = [loc?.seg ?? '', loc ? '1' : '', loc?.field ?? '', [ec, esc(et), 'HL70357'].join(s)].join(c);
      segs.push(['ERR', eld].join(f));
    }
  }
  return segs.join('\r');
}

function parseLocation(loc: string | undefined): { seg: string; field: string } | null {
  if (!loc) return null;
  const m = /^([A-Z][A-Z0-9]{2})(?:-(\d+))?/.exec(loc);
  return m ? { seg: m[1], field: m[2] ?? '' } : null;
}

/** What happened to a message, as far as acknowledgement is concerned. */
export type AckOutcome =
  | { kind: 'committed'; text?: string }
  /** Refused at validation (type/version) or by back-pressure: nothing stored. */
  | { kind: 'rejected'; reason: string; errorCode: string; errorLocation?: string }
  /** Could not be processed (bad content, internal error): nothing stored. */
  | { kind: 'error'; reason: string; errorCode: string; errorLocation?: string };

export interface PlannedAck {
  code: AckCode;
  text: string;
  errorCode?: string;
  errorLocation?: string;
}

/**
 * Which ACKs to send, in order, on the connection.
 * Original mode (MSH-15 and MSH-16 both empty): exactly one of AA/AE/AR.
 * Enhanced mode: an accept ACK (CA/CE/CR) as MSH-15 asks (AL always, NE never,
 * ER only on error/reject, SU only on success; empty = AL), then, for a committed
 * message, an application ACK (AA) as MSH-16 asks (AL or SU; empty = NE).
 * Messages not committed get no application ACK: the application never saw them.
 */
export function planAcks(header: { acceptAckType: string; applicationAckType: string }, outcome: AckOutcome): PlannedAck[] {
  const accept = header.acceptAckType;
  const app = header.applicationAckType;
  const original = accept === '' && app === '';
  if (original) {
    if (outcome.kind === 'committed') return [{ code: 'AA', text: outcome.text ?? DEFAULT_TEXT.AA }];
    const code: AckCode = outcome.kind === 'rejected' ? 'AR' : 'AE';
    return [{ code, text: outcome.reason, errorCode: outcome.errorCode, errorLocation: outcome.errorLocation }];
  }
  const acceptMode = accept === '' ? 'AL' : accept;
  const appMode = app === '' ? 'NE' : app;
  const out: PlannedAck[] = [];
  if (outcome.kind === 'committed') {
    if (acceptMode === 'AL' || acceptMode === 'SU') out.push({ code: 'CA', text: outcome.text ?? DEFAULT_TEXT.CA });
    if (appMode === 'AL' || appMode === 'SU') out.push({ code: 'AA', text: outcome.text ?? DEFAULT_TEXT.AA });
    return out;
  }
  if (acceptMode === 'AL' || acceptMode === 'ER') {
    const code: AckCode = outcome.kind === 'rejected' ? 'CR' : 'CE';
    out.push({ code, text: outcome.reason, errorCode: outcome.errorCode, errorLocation: outcome.errorLocation });
  }
  return out;
}

/** Separator between ACK messages in a stored response (never valid inside HL7 text). */
export const STORED_ACK_SEPARATOR = '\x1c';

export function joinStoredAcks(acks: string[]): string {
  return acks.join(STORED_ACK_SEPARATOR);
}

export function splitStoredAcks(stored: string): string[] {
  return stored.split(STORED_ACK_SEPARATOR).filter((s) => s.length > 0);
}
