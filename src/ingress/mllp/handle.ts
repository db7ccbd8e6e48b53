/**
 * One MLLP frame in, the ACK messages to send back out. No sockets here:
 * parse → check version and type → map → accept (durable commit, done by the
 * pipeline) → ACKs. The ACK of a committed message is built before the commit
 * (ackFor) so the pipeline can store it with the idempotency key and a
 * retransmit gets exactly the same bytes back. A refusal is an Outcome (returned or
 * thrown), and its ACK code comes from the same table as its HTTP status.
 */
import type { FhirResource } from '../../model/index.js';
import {
  ackCodeOf,
  DuplicateIdempotencyKeyError,
  needsErrorId,
  normalizeOperationOutcome,
  serverError,
  textOf,
  tooLarge,
  type Outcome,
} from '../../fhir/index.js';
import {
  buildAck,
  decodeHl7Bytes,
  decodeHl7Frame,
  headerFallback,
  HL7_ERROR,
  Hl7ParseError,
  isMappedType,
  joinStoredAcks,
  MAPPED_MESSAGE_TYPES,
  mapToFhir,
  parseHl7,
  planAcks,
  splitStoredAcks,
  type AckCode,
  type AckOutcome,
  type AckSubject,
  type MapOptions,
  type ParsedHl7,
} from '../../hl7v2/index.js';
import { decideMllpAccess, type BreakGlassFields, type MllpPeer } from './access.js';

export interface MllpAcceptInput {
  /** The message text as received (segments separated by CR). */
  text: string;
  parsed: ParsedHl7;
  /** The mapped Bundle; null for a message routed opaque (as v2 only). */
  fhir: FhirResource | null;
  /** The authenticated identity's name; "MSH-3|MSH-4" for an integration engine (or without identities: TLS CN, else MSH). */
  source: string;
  /** "MSH-3|MSH-4" when the message claims a source that was not taken as the source. */
  claimedSource?: string;
  /** The connection has no TLS (an allow-listed plain sender, a loopback peer). */
  plain?: boolean;
  /** Break-glass was asked for (purpose ETREAT) and allowed, with this reason. */
  breakGlass?: { reason: string };
  /**
   * 'hl7v2|' + MSH-3 + '|' + MSH-4 + '|' + MSH-10 (prefixed by the identity's name when MSH-3|MSH-4
   * is only claimed, so one sender cannot pre-empt another's control ids) — store it in the same
   * commit as the message.
   */
  idempotencyKey: string;
  /** "ADT^A01". */
  messageType: string;
  /**
   * The ACK text(s) for this message once accepted under `messageId`: store this
   * string as the idempotency response in the same commit, and return it as
   * `storedAck` (and later as `storedResponse` for a retransmit).
   */
  ackFor(messageId: string): string;
}

export type MllpAcceptResult =
  | { kind: 'accepted'; messageId: string; storedAck?: string }
  | { kind: 'duplicate'; storedResponse: string }
  | { kind: 'rejected'; outcome: Outcome };

/**
 * Implemented by the pipeline: resolve only after the durable commit. A refusal may be
 * returned as `rejected` or thrown (an OperationOutcomeError such as QuotaExceededError);
 * any other thrown error answers AE "not stored; send it again".
 */
export type MllpAccept = (input: MllpAcceptInput) => Promise<MllpAcceptResult>;

export const DEFAULT_SUPPORTED_VERSIONS = ['2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.8.1', '2.8.2'];

/** Security events of one frame, for the audit (no PHI: names, codes, plain-words reasons). */
export type MllpSecurityEvent =
  | { kind: 'access-denied'; actor?: string; action: string; reason: string; peer: string; plain: boolean }
  | { kind: 'break-glass'; actor: string; reasonText: string; messageId: string; plain: boolean };

export interface HandleDeps {
  accept: MllpAccept;
  /** Where break-glass is asked for (default ZBG-1 purpose, ZBG-2 reason). */
  breakGlass?: BreakGlassFields;
  /** Refused senders and break-glass use, as they happen. */
  onSecurity?: (e: MllpSecurityEvent) => void;
  supportedVersions?: readonly string[];
  /** True when a route takes this unmapped type as opaque v2 (route `{ match: { format: 'hl7v2', messageType }, opaque: true }`). */
  isOpaqueRouted?: (messageType: string) => boolean;
  map?: MapOptions;
  now?: () => Date;
}

export type FrameResult =
  | 'accepted'
  | 'duplicate'
  | 'rejected' // type/version/pipeline reject
  | 'invalid' // unparseable or unmappable content
  | 'failed'; // accept threw: nothing stored

export interface HandledFrame {
  acks: string[];
  result: FrameResult;
  /** Codes of the ACKs sent (for stats). */
  codes: AckCode[];
  messageType: string;
}

function codesOf(acks: string[]): AckCode[] {
  return acks.map((a) => {
    const msa = a.split('\r').find((s) => s.startsWith('MSA'));
    return (msa?.slice(4, 6) ?? 'AE') as AckCode;
  });
}

function respond(subject: AckSubject, outcome: AckOutcome, now: Date): string[] {
  return planAcks(subject.header, outcome).map((p) =>
    buildAck(subject, p.code, { text: p.text, errorCode: p.errorCode, errorLocation: p.errorLocation, now }),
  );
}

const NOT_STORED = 'internal error: the message was not stored; send it again';

/**
 * An Outcome as the ACK's outcome: its kind decides AE or AR (CE/CR in enhanced mode);
 * the text is the outcome's own, except for a failure on our side, whose details stay in the log.
 */
export function ackOutcomeOf(o: Outcome, failureText = NOT_STORED): AckOutcome {
  const code = ackCodeOf(o);
  if (code === 'AA') return { kind: 'committed', text: textOf(o.outcome).slice(0, 200) };
  const reason = needsErrorId(o) ? failureText : textOf(o.outcome).slice(0, 200);
  return { kind: code === 'AR' ? 'rejected' : 'error', reason, errorCode: HL7_ERROR.internalError };
}

/** The ACKs for an oversize frame, from whatever of its header was kept. */
export function handleOversize(head: Buffer, maxFrameBytes: number, now = new Date()): HandledFrame {
  const subject = headerFallback(decodeHl7Bytes(head));
  const acks = respond(subject, ackOutcomeOf(tooLarge(`message exceeds the ${maxFrameBytes}-byte frame limit`)), now);
  return { acks, result: 'rejected', codes: codesOf(acks), messageType: subject.header.messageType };
}

/** A bug guard: if handling threw unexpectedly, the sender still gets AE/CE (nothing was stored by us). */
export function handleUnexpected(payload: Buffer, now = new Date()): HandledFrame {
  const subject = headerFallback(decodeHl7Bytes(payload.subarray(0, 4096)));
  const acks = respond(subject, ackOutcomeOf(serverError(), 'internal error while handling the message; send it again'), now);
  return { acks, result: 'failed', codes: codesOf(acks), messageType: subject.header.messageType };
}

/**
 * `peer` is the connection's peer with its identity (the gateway), or — for a listener run
 * without identities — the TLS client CN or null (then the source is the CN, else MSH-3|MSH-4).
 */
export async function handleFrame(payload: Buffer, peer: MllpPeer | string | null, deps: HandleDeps): Promise<HandledFrame> {
  const now = deps.now ?? (() => new Date());
  // Bytes are read in the character set MSH-18 declares; one we cannot read is refused, not guessed,
  // after the sender's identity was checked on the bytes read one by one.
  const decoded = decodeHl7Frame(payload);
  const charsetRefusal: AckOutcome | undefined =
    decoded.kind === 'refused' ? { kind: 'rejected', reason: decoded.reason, errorCode: decoded.errorCode, errorLocation: decoded.location } : undefined;
  const text = decoded.kind === 'decoded' ? decoded.text : decoded.latin1;
  let parsed: ParsedHl7;
  try {
    parsed = parseHl7(text);
  } catch (err) {
    if (!(err instanceof Hl7ParseError)) throw err;
    if (charsetRefusal) {
      const acks = respond(err.fallback, charsetRefusal, now());
      return { acks, result: 'rejected', codes: codesOf(acks), messageType: err.fallback.header.messageType };
    }
    const notHl7 = err.location === 'MSH' || err.location === 'MSH-1' || err.location === 'MSH-2';
    const acks = respond(
      err.fallback,
      { kind: notHl7 ? 'rejected' : 'error', reason: err.message, errorCode: err.code, errorLocation: err.location },
      now(),
    );
    return { acks, result: 'invalid', codes: codesOf(acks), messageType: err.fallback.header.messageType };
  }
  const h = parsed.header;
  const done = (outcome: AckOutcome, result: FrameResult): HandledFrame => {
    const acks = respond(parsed, outcome, now());
    return { acks, result, codes: codesOf(acks), messageType: h.messageType };
  };

  // Who sent it, and may they, before anything else is looked at.
  const claimed = `${h.sendingApplication}|${h.sendingFacility}`;
  let source = typeof peer === 'string' ? peer : claimed;
  let claimedSource: string | undefined;
  let breakGlass: { reason: string } | undefined;
  const identified = peer !== null && typeof peer === 'object' ? peer : undefined;
  if (identified) {
    const access = decideMllpAccess(parsed, identified, deps.breakGlass);
    if (!access.ok) {
      deps.onSecurity?.({ kind: 'access-denied', actor: identified.identity?.name, action: access.action, reason: access.reason, peer: identified.ip, plain: identified.plain });
      return done(ackOutcomeOf(access.outcome), 'rejected');
    }
    source = access.source;
    claimedSource = access.claimedSource;
    breakGlass = access.breakGlass;
  }
  if (charsetRefusal) return done(charsetRefusal, 'rejected');

  const versions = deps.supportedVersions ?? DEFAULT_SUPPORTED_VERSIONS;
  if (!versions.includes(h.version)) {
    return done({ kind: 'rejected', reason: `version ${safe(h.version)} is not supported`, errorCode: HL7_ERROR.unsupportedVersion, errorLocation: 'MSH-12' }, 'rejected');
  }

  let fhir: FhirResource | null = null;
  if (isMappedType(h.messageType)) {
    const mapped = mapToFhir(parsed, deps.map);
    if (mapped.kind === 'invalid') {
      return done({ kind: 'error', reason: mapped.reason, errorCode: mapped.errorCode, errorLocation: mapped.location }, 'invalid');
    }
    if (mapped.kind === 'mapped') fhir = mapped.bundle;
  } else if (!deps.isOpaqueRouted?.(h.messageType)) {
    // A message code we map with another event: the event is what is unsupported.
    const known = MAPPED_MESSAGE_TYPES.some((t) => t.startsWith(`${h.messageCode}^`));
    return done(
      {
        kind: 'rejected',
        reason: `message type ${safe(h.messageType)} is not supported`,
        errorCode: known ? HL7_ERROR.unsupportedEventCode : HL7_ERROR.unsupportedMessageType,
        errorLocation: 'MSH-9',
      },
      'rejected',
    );
  }

  const ackFor = (messageId: string): string =>
    joinStoredAcks(respond(parsed, { kind: 'committed', text: `Message accepted as ${safe(messageId)}` }, now()));

  const input: MllpAcceptInput = {
    text: parsed.text,
    parsed,
    fhir,
    source,
    ...(claimedSource ? { claimedSource } : {}),
    ...(identified?.plain ? { plain: true } : {}),
    ...(breakGlass ? { breakGlass } : {}),
    idempotencyKey: `hl7v2|${claimedSource ? `${source}|` : ''}${h.sendingApplication}|${h.sendingFacility}|${h.controlId}`,
    messageType: h.messageType,
    ackFor,
  };
  let res: MllpAcceptResult;
  try {
    res = await deps.accept(input);
  } catch (err) {
    // Two concurrent copies of one message: the first was stored; answer as it was answered.
    if (err instanceof DuplicateIdempotencyKeyError) res = { kind: 'duplicate', storedResponse: err.response };
    else {
      const outcome = normalizeOperationOutcome(err);
      return done(ackOutcomeOf(outcome), needsErrorId(outcome) ? 'failed' : 'rejected');
    }
  }
  if (res.kind === 'accepted') {
    if (breakGlass && identified?.identity) {
      deps.onSecurity?.({ kind: 'break-glass', actor: identified.identity.name, reasonText: breakGlass.reason, messageId: res.messageId, plain: identified.plain });
    }
    const acks = splitStoredAcks(res.storedAck ?? ackFor(res.messageId));
    return { acks, result: 'accepted', codes: codesOf(acks), messageType: h.messageType };
  }
  if (res.kind === 'duplicate') {
    const acks = replay(res.storedResponse, ackFor);
    return { acks, result: 'duplicate', codes: codesOf(acks), messageType: h.messageType };
  }
  return done(ackOutcomeOf(res.outcome), needsErrorId(res.outcome) ? 'failed' : 'rejected');
}

/**
 * A stored response is our ACK text (from ackFor) — replayed as is. If the
 * pipeline stored something else (its JSON answer with an `id`), the ACK is
 * rebuilt for that message id.
 */
function replay(stored: string, ackFor: (id: string) => string): string[] {
  if (stored === '' || stored.startsWith('MSH')) return splitStoredAcks(stored);
  try {
    const j = JSON.parse(stored) as { id?: unknown; messageId?: unknown };
    const id = typeof j.id === 'string' ? j.id : typeof j.messageId === 'string' ? j.messageId : 'unknown';
    return splitStoredAcks(ackFor(id));
  } catch {
    return splitStoredAcks(ackFor('unknown'));
  }
}

/** Values echoed in ERR/MSA text: header values only, trimmed to a safe alphabet. */
function safe(v: string): string {
  return v.replace(/[^A-Za-z0-9^._\-]/g, '').slice(0, 40) || '(empty)';
}
