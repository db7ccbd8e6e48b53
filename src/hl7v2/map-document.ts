/**
 * Documents (MDM^T02 and the other events with content, T04/T06/T08/T10) → DocumentReference,
 * after the HL7 v2-to-FHIR IG segment maps TXA[DocumentReference] and OBX[DocumentReference]
 * (http://hl7.org/fhir/uv/v2mappings, ConceptMap segment-txa-to-documentreference). The OBX
 * text (TX/ST/FT, repetitions and segments joined by line feeds) becomes one attachment of
 * UTF-8 text, decoded from v2 escapes (so "text/plain", where the IG keeps FT as "text/hl7v2");
 * each ED value becomes an attachment of its own type. Pure.
 */
import type { FhirResource } from '../model/index.js';
import { c, codeSystemUri, toCodeableConcept, toDateTime } from './datatypes.js';
import { compact, eiIdentifier, Invalid, isInstant, xcnReference, type MapContext } from './map-context.js';

/** TXA-17 document completion status (HL7 table 0271) → DocumentReference.docStatus. */
const COMPLETION: Record<string, string> = { AU: 'final', LA: 'final', DO: 'final', DI: 'preliminary', IN: 'preliminary', IP: 'preliminary', PA: 'preliminary' };

/** TXA-19 availability (HL7 table 0273) → DocumentReference.status: obsolete is superseded, cancelled was entered in error. */
const AVAILABILITY: Record<string, string> = { AV: 'current', UN: 'current', OB: 'superseded', CA: 'entered-in-error' };

/** TXA-18 confidentiality (HL7 table 0272) → v3 Confidentiality (IG vocabulary map DocumentConfidentialityStatus). */
const CONFIDENTIALITY: Record<string, string> = { V: 'V', R: 'R', U: 'N' };

export const DOCUMENT_EVENTS_WITH_CONTENT = ['T02', 'T04', 'T06', 'T08', 'T10'] as const;

export function mapDocument(ctx: MapContext): void {
  const { msg, dates } = ctx;
  const txa = msg.segment('TXA');
  if (!txa) throw new Invalid('TXA segment is missing', '100', 'TXA');

  const content: Record<string, unknown>[] = [];
  const lines: string[] = [];
  for (const obx of msg.all('OBX')) {
    const type = obx.value(2).toUpperCase() || 'TX';
    if (type === 'TX' || type === 'ST' || type === 'FT') {
      for (const r of obx.reps(5)) lines.push(r.map((x) => x.join('&')).join('^'));
    } else if (type === 'ED') {
      for (const r of obx.reps(5)) {
        const data = c(r, 5);
        if (!data) continue;
        const base64 = c(r, 4).toUpperCase() === 'BASE64';
        const mime = [c(r, 2), c(r, 3)].every(Boolean) && !/^[A-Z]+$/.test(c(r, 2)) ? `${c(r, 2)}/${c(r, 3)}` : edMime(c(r, 2), c(r, 3));
        content.push({ attachment: { contentType: mime, data: base64 ? data.replace(/\s+/g, '') : Buffer.from(data, 'utf8').toString('base64') } });
      }
    }
    // Other value types (RP pointers, coded values) stay in the v2 form only.
  }
  if (lines.length) {
    content.unshift({ attachment: { contentType: 'text/plain; charset=utf-8', data: Buffer.from(lines.join('\n'), 'utf8').toString('base64') } });
  }
  if (!content.length) throw new Invalid('OBX-5 (document content) is missing: no TX, ST, FT or ED value', '101', 'OBX-5');

  const typeRep = txa.reps(2)[0];
  // TXA-2 is IS (table 0270) before v2.7 and CWE after: a bare code is one of table 0270's.
  const type = typeRep && !c(typeRep, 3) && c(typeRep, 1) ? { coding: [{ system: codeSystemUri('HL70270'), code: c(typeRep, 1), ...(c(typeRep, 2) ? { display: c(typeRep, 2) } : {}) }] } : toCodeableConcept(typeRep);
  const masterIdentifier = eiIdentifier(txa.reps(12)[0]);
  const date = toDateTime(txa.value(6), dates);
  const activity = toDateTime(txa.value(4), dates);
  const author = compact(txa.reps(9).map(xcnReference));
  const authenticator = xcnReference(txa.reps(10)[0]);
  const docStatus = COMPLETION[txa.value(17).toUpperCase()];
  const conf = CONFIDENTIALITY[txa.value(18).toUpperCase()];
  const description = txa.value(25);
  ctx.add({
    resourceType: 'DocumentReference',
    ...(masterIdentifier ? { masterIdentifier } : {}),
    status: AVAILABILITY[txa.value(19).toUpperCase()] ?? 'current',
    ...(docStatus ? { docStatus } : {}),
    ...(type ? { type } : {}),
    subject: ctx.subject,
    ...(isInstant(date) ? { date } : {}),
    ...(author.length ? { author } : {}),
    ...(authenticator ? { authenticator } : {}),
    ...(description ? { description } : {}),
    ...(conf ? { securityLabel: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: conf }] }] } : {}),
    content,
    ...(ctx.encounter || activity
      ? { context: { ...(ctx.encounter ? { encounter: [ctx.encounter] } : {}), ...(activity ? { period: { start: activity } } : {}) } }
      : {}),
  } satisfies FhirResource);
}

/** ED type^subtype in v2 words (AP PDF, IM JPEG, TEXT RTF…) → a MIME type. */
function edMime(type: string, subtype: string): string {
  const t = type.toUpperCase();
  const s = subtype.toUpperCase();
  if (s === 'PDF') return 'application/pdf';
  if (s === 'JPEG' || s === 'JPG') return 'image/jpeg';
  if (s === 'PNG') return 'image/png';
  if (s === 'TIFF') return 'image/tiff';
  if (s === 'RTF') return 'application/rtf';
  if (s === 'HTML') return 'text/html';
  if (s === 'XML') return 'application/xml';
  if (t === 'TEXT' || s === 'PLAIN') return 'text/plain';
  return 'application/octet-stream';
}
