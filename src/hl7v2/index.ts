/**
 * HL7 v2: parsing (on @medplum/core's Hl7Message, with escapes, subcomponents
 * and MSH validation added), ACKs, mapping to FHIR R4, and v2 de-identification.
 * Pure: no I/O, no clock except where injected.
 */
export {
  parseHl7,
  headerFallback,
  decodeEscapes,
  encodeEscapes,
  decodeHl7Bytes,
  Hl7ParseError,
  Hl7Seg,
  HL7_ERROR,
  DEFAULT_ENCODING,
} from './parse.js';
export type { ParsedHl7, Hl7Header, Hl7Encoding, AckSubject } from './parse.js';
export {
  buildAck,
  planAcks,
  newControlId,
  hl7Timestamp,
  joinStoredAcks,
  splitStoredAcks,
  STORED_ACK_SEPARATOR,
} from './ack.js';
export type { AckCode, AckOptions, AckOutcome, PlannedAck } from './ack.js';
export { decodeHl7Frame, declaredCharset, SUPPORTED_CHARSETS } from './charset.js';
export type { DecodedFrame } from './charset.js';
export { mapToFhir, isMappedType, MAPPED_MESSAGE_TYPES, UNMAPPED_SEGMENT_TAG } from './map.js';
export type { MapOptions, MapResult } from './map.js';
export { normalizeCnic, codeSystemUri, CODE_SYSTEMS } from './datatypes.js';
export { sanitizeV2 } from './sanitize.js';
export type { SanitizeV2Options } from './sanitize.js';
export { v2Understanding, UNDERSTOOD_SEGMENTS } from './understood.js';
export type { V2Understanding } from './understood.js';
