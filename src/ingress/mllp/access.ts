/**
 * Who sent an HL7 v2 message, and may they: the connection's authenticated identity (a
 * client certificate over MLLP/TLS, an allow-listed plain sender, the loopback peer) is
 * the source. MSH-3|MSH-4 is only what the message claims: it becomes the source only for
 * an identity with the `integration-engine` grant, and is recorded as the claimed source
 * otherwise. Break-glass (purpose ETREAT) is asked for in a configured field (ZBG-1 by
 * default) with a reason (ZBG-2) and needs the `break-glass` grant. Pure.
 */
import { authorize, type Identity } from '../../auth/index.js';
import { forbidden, type Outcome } from '../../fhir/index.js';
import type { ParsedHl7 } from '../../hl7v2/index.js';

/** The peer of one MLLP connection, as the listener established it. */
export interface MllpPeer {
  /** The authenticated identity, or undefined when the peer is not one we know. */
  identity?: Identity;
  /** Why there is no identity (unknown plain peer, certificate without a name). */
  refusal?: string;
  /** The peer's IP address (never patient data). */
  ip: string;
  /** The connection has no TLS. */
  plain: boolean;
}

/** Where break-glass is asked for: "SEG-n" or "SEG-n.c" for the purpose code and the reason. */
export interface BreakGlassFields {
  purposeField: string;
  reasonField: string;
}

/** HL7 v2 has no purpose-of-use field: a Z-segment, `ZBG|ETREAT|<reason>`, by default. */
export const DEFAULT_BREAK_GLASS_FIELDS: BreakGlassFields = { purposeField: 'ZBG-1', reasonField: 'ZBG-2' };

export type MllpAccess =
  | { ok: false; outcome: Outcome; action: string; reason: string }
  | {
      ok: true;
      source: string;
      /** MSH-3|MSH-4 when it was not taken as the source. */
      claimedSource?: string;
      /** Set when break-glass was asked for and allowed. */
      breakGlass?: { reason: string };
    };

/** A field's decoded value by reference ("ZBG-2", "EVN-4.1"); '' when absent. */
export function fieldValue(parsed: ParsedHl7, ref: string): string {
  const m = /^([A-Z][A-Z0-9]{2})-(\d{1,3})(?:\.(\d{1,2}))?$/.exec(ref);
  if (!m) return '';
  const seg = parsed.segment(m[1]!);
  if (!seg) return '';
  return m[3] ? seg.value(Number(m[2]), Number(m[3])) : seg.component(Number(m[2]), 1);
}

export function decideMllpAccess(parsed: ParsedHl7, peer: MllpPeer, fields: BreakGlassFields = DEFAULT_BREAK_GLASS_FIELDS): MllpAccess {
  const claimed = `${parsed.header.sendingApplication}|${parsed.header.sendingFacility}`;
  const refuse = (action: string, reason: string): MllpAccess => ({ ok: false, outcome: forbidden(reason), action, reason });
  if (!peer.identity) return refuse('hl7v2.submit', peer.refusal ?? 'the sender is not authenticated');
  const identity = peer.identity;
  const submit = authorize(identity, 'hl7v2.submit');
  if (!submit.allowed) return refuse('hl7v2.submit', submit.reason);

  let breakGlass: { reason: string } | undefined;
  if (fieldValue(parsed, fields.purposeField).trim().toUpperCase() === 'ETREAT') {
    const reason = fieldValue(parsed, fields.reasonField).trim();
    const etreat = authorize(identity, 'purpose.etreat', { breakGlassReason: reason });
    if (!etreat.allowed) {
      // The HTTP header's name means nothing to a v2 sender: say which field is missing.
      const why = reason ? etreat.reason : `purpose ETREAT (break-glass) needs a reason in ${fields.reasonField}`;
      return refuse('purpose.etreat', why);
    }
    breakGlass = { reason };
  }

  const mayClaim = authorize(identity, 'source.claim').allowed;
  const source = mayClaim ? claimed : identity.name;
  return { ok: true, source, ...(source !== claimed ? { claimedSource: claimed } : {}), ...(breakGlass ? { breakGlass } : {}) };
}
