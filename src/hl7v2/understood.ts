/**
 * Which HL7 v2 segments darwaza understands: the mapper turns them into FHIR or the
 * classifier reads their content (coded fields, notes, text results). A message made only
 * of these may leave as v2 with the labels classification gave it; any other segment
 * (Z-segments, segments of message types we do not map) is content nobody classified,
 * so the v2 form of that message is opaque.
 */
import { parseHl7, type ParsedHl7 } from './parse.js';

export const UNDERSTOOD_SEGMENTS: ReadonlySet<string> = new Set([
  // Header and envelope: no patient content.
  'MSH', 'EVN', 'SFT',
  // Mapped to FHIR (Patient, Encounter, Observation, DiagnosticReport).
  'PID', 'NK1', 'PV1', 'OBR', 'OBX',
  // Not mapped, but read by classification (codes and free text).
  'DG1', 'PR1', 'AL1', 'NTE',
  // Order and visit detail of the standard ORU/ORM/ADT structures: order numbers, timing and
  // visit data, whose coded fields classification reads like any other segment's.
  'ORC', 'PV2', 'PD1', 'TQ1',
  // Mapped to FHIR for orders (Specimen), scheduling (Appointment), documents (DocumentReference)
  // and immunisations (Immunization); their free-text fields are read by classification too.
  'SPM', 'SCH', 'RGS', 'AIS', 'AIG', 'AIL', 'AIP', 'TXA', 'RXA', 'RXR',
]);

export interface V2Understanding {
  understood: boolean;
  /** Names of the segments outside the list (segment ids only: no content). */
  unknownSegments: string[];
}

/** Whether every segment of a message is one darwaza understands; text that does not parse is not understood. */
export function v2Understanding(v2: string | ParsedHl7): V2Understanding {
  let msg: ParsedHl7;
  try {
    msg = typeof v2 === 'string' ? parseHl7(v2) : v2;
  } catch {
    return { understood: false, unknownSegments: ['(unparseable)'] };
  }
  const unknown = new Set<string>();
  let pids = 0;
  for (const s of msg.segments) {
    if (!s.name) continue;
    // The mapper reads one patient; a second PID is a person nobody mapped.
    if (s.name === 'PID' && ++pids > 1) unknown.add('PID (repeated)');
    // Segment ids are three upper-case letters or digits; anything else is named by its shape only.
    if (!UNDERSTOOD_SEGMENTS.has(s.name)) unknown.add(/^[A-Z][A-Z0-9]{2}$/.test(s.name) ? s.name : '(malformed)');
  }
  return { understood: unknown.size === 0, unknownSegments: [...unknown].sort() };
}
