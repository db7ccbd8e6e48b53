/**
 * The HL7 v2 form of a message, judged before it may leave as v2. Classification reads
 * the segments darwaza understands (hl7v2 UNDERSTOOD_SEGMENTS); anything else — a Z-segment,
 * a segment of a type nobody maps, a message type sent as opaque v2 — is content nobody
 * classified. Such a message goes as v2 only through a route marked `opaque` to a
 * destination the policy permits opaque data for (`when: { data: { opaque: true } }`);
 * everywhere else it is denied with a reason. Pure.
 */
import { v2Understanding } from '../hl7v2/index.js';

export interface V2Form {
  /** The v2 text holds content that was not classified. */
  opaque: boolean;
  /** Segment ids outside the understood list (no content). */
  unknownSegments: string[];
}

/** What the v2 text of a message is; undefined when the message came as FHIR. */
export function v2FormOf(req: { v2?: string; opaque?: boolean }): V2Form | undefined {
  if (typeof req.v2 !== 'string') return undefined;
  const u = v2Understanding(req.v2);
  return { opaque: req.opaque === true || !u.understood, unknownSegments: req.opaque ? ['(unmapped message type)', ...u.unknownSegments] : u.unknownSegments };
}

/** Why this v2 form may not go to a v2 destination whatever the policy says; undefined when it may be judged. */
export function v2RouteRefusal(form: V2Form | undefined, destinationFormat: string | undefined, viaOpaqueRoute: boolean): string | undefined {
  if (!form || destinationFormat !== 'hl7v2' || !form.opaque || viaOpaqueRoute) return undefined;
  return `the HL7 v2 message holds content darwaza does not classify (${form.unknownSegments.join(', ')}); it goes as v2 only through a route marked opaque`;
}
