/**
 * De-identification of the original v2 message, for destinations that take v2.
 * Works on the text field by field, in the sender's own encoding characters,
 * so the result is still a valid message of the same structure.
 *
 * Removed: PID-5 name, PID-6 mother's maiden name, PID-9 alias, PID-11 address,
 * PID-12 county, PID-13/14 phones, PID-18 account, PID-19 SSN, PID-20 driver's
 * licence, PID-21 mother's id, PID-23 birth place; NK1 names, addresses, phones
 * and identifiers; MRG-7 prior name; GT1/IN1/IN2/IN3 segments (guarantor and
 * insurance are full of identity); Z-segments unless keepZSegments.
 * Pseudonymized: PID-2/3/4 and MRG-1/2/3 identifier values (component 1;
 * check digit cleared; authority and type kept). Without `pseudonymize` they
 * are emptied (a plain hash of a 13-digit CNIC is brute-forceable, so we do
 * not offer one: pass a keyed function).
 * Cut: PID-7 birth date and PID-29 death date to the year.
 * Not touched: free text in OBX-5/NTE (clinical content may name people).
 */
import { decodeEscapes, encodeEscapes, parseHl7, type Hl7Encoding } from './parse.js';

export interface SanitizeV2Options {
  /** Keyed pseudonym for an identifier value (e.g. HMAC with a gateway key). */
  pseudonymize?: (id: string) => string;
  /** Keep Z-segments (site-specific; may hold PHI). Default false. */
  keepZSegments?: boolean;
}

const REMOVE: Record<string, number[]> = {
  PID: [5, 6, 9, 11, 12, 13, 14, 18, 19, 20, 21, 23],
  NK1: [2, 4, 5, 6, 30, 31, 32, 33, 37],
  MRG: [7],
};
const PSEUDONYMIZE: Record<string, number[]> = {
  PID: [2, 3, 4],
  MRG: [1, 2, 3],
};
const TO_YEAR: Record<string, number[]> = {
  PID: [7, 29],
};
const DROP_SEGMENTS = new Set(['GT1', 'IN1', 'IN2', 'IN3']);

/** Throws Hl7ParseError when the text is not an HL7 v2 message. */
export function sanitizeV2(text: string, opts: SanitizeV2Options = {}): string {
  const parsed = parseHl7(text); // validates MSH and segment names; gives the encoding
  const enc = parsed.encoding;
  const out: string[] = [];
  for (const line of parsed.text.split('\r')) {
    const name = line.slice(0, 3);
    if (DROP_SEGMENTS.has(name)) continue;
    if (name.startsWith('Z') && !opts.keepZSegments) continue;
    if (name === 'MSH' || (!REMOVE[name] && !PSEUDONYMIZE[name])) {
      out.push(line);
      continue;
    }
    const fields = line.split(enc.field);
    for (const i of REMOVE[name] ?? []) if (i < fields.length) fields[i] = '';
    for (const i of TO_YEAR[name] ?? []) if (i < fields.length) fields[i] = fields[i].slice(0, 4).replace(/\D/g, '');
    for (const i of PSEUDONYMIZE[name] ?? []) {
      if (i < fields.length && fields[i] !== '') fields[i] = pseudonymizeCx(fields[i], enc, opts.pseudonymize);
    }
    out.push(trimFields(fields, enc));
  }
  return out.join('\r');
}

function pseudonymizeCx(field: string, enc: Hl7Encoding, fn: ((id: string) => string) | undefined): string {
  const reps = field.split(enc.repetition).map((rep) => {
    const comps = rep.split(enc.component);
    const id = decodeEscapes(comps[0].split(enc.subcomponent)[0], enc);
    comps[0] = id && fn ? encodeEscapes(fn(id), enc) : '';
    if (comps.length > 1) comps[1] = ''; // a check digit would leak the identifier's tail
    return comps.join(enc.component);
  });
  return reps.join(enc.repetition);
}

function trimFields(fields: string[], enc: Hl7Encoding): string {
  let n = fields.length;
  while (n > 1 && fields[n - 1] === '') n--;
  return fields.slice(0, n).join(enc.field);
}

