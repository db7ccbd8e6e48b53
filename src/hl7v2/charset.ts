/**
 * Bytes → text by the character set the message declares in MSH-18 (HL7 table 0211), read
 * from the MSH bytes before anything is decoded (the MSH itself is ASCII in every set we take):
 * - empty: UTF-8, leniently (what senders without MSH-18 send in practice; ASCII is a subset);
 * - ASCII (ISO IR6): refused when a byte is outside ASCII, rather than guessed;
 * - UNICODE UTF-8: refused when the bytes are not valid UTF-8 (no silent U+FFFD);
 * - 8859/1 … 8859/9, 8859/15: decoded as that ISO 8859 part;
 * - anything else (UNICODE = UCS-2, UTF-16/32, JIS, GB 18030, …): refused, naming MSH-18.
 * Text decoded from an 8-bit set has MSH-18 rewritten to UNICODE UTF-8: from here on it is
 * Unicode, and every form that leaves the gateway (stored, sealed v2) is written as UTF-8.
 * Pure.
 */

export const SUPPORTED_CHARSETS = ['ASCII', 'UNICODE UTF-8', '8859/1', '8859/2', '8859/3', '8859/4', '8859/5', '8859/6', '8859/7', '8859/8', '8859/9', '8859/15'] as const;

export type DecodedFrame =
  | { kind: 'decoded'; text: string; charset: string }
  /** reason names MSH-18 and the set, never content; latin1 is the frame read byte for byte (for the header and the sender's identity). */
  | { kind: 'refused'; reason: string; errorCode: '102' | '103'; location: 'MSH-18'; latin1: string };

/** MSH-18's first repetition, upper-cased ('' when absent or the bytes do not start with MSH). */
export function declaredCharset(bytes: Buffer): string {
  const head = bytes.subarray(0, Math.min(bytes.length, 2048)).toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').replace(/^\s+/, '');
  const first = head.split(/[\r\n]/, 1)[0];
  if (!first.startsWith('MSH') || first.length < 8) return '';
  const fields = first.split(first.charAt(3));
  return (fields[17] ?? '').split(first.charAt(5))[0].trim().toUpperCase();
}

const safe = (v: string) => v.replace(/[^A-Za-z0-9 /._-]/g, '').slice(0, 30) || '(unreadable)';

/** Replaces MSH-18's first repetition (the message's own set) in decoded text. */
function declareUnicode(text: string): string {
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const end = text.search(/[\r\n]/);
  const first = text.slice(bom, end < 0 ? text.length : end);
  const sep = first.charAt(3);
  const fields = first.split(sep);
  if (fields.length < 18) return text;
  const reps = fields[17].split(first.charAt(5));
  reps[0] = 'UNICODE UTF-8';
  fields[17] = reps.join(first.charAt(5));
  return fields.join(sep) + (end < 0 ? '' : text.slice(end));
}

export function decodeHl7Frame(bytes: Buffer): DecodedFrame {
  const cs = declaredCharset(bytes);
  const refuse = (reason: string, errorCode: '102' | '103'): DecodedFrame => ({ kind: 'refused', reason, errorCode, location: 'MSH-18', latin1: bytes.toString('latin1') });
  if (cs === '') return { kind: 'decoded', text: bytes.toString('utf8'), charset: '' };
  if (cs === 'ASCII' || cs === 'ISO IR6') {
    for (const b of bytes) if (b > 0x7f) return refuse(`MSH-18 declares ${cs}, and the message has bytes outside ASCII`, '102');
    return { kind: 'decoded', text: bytes.toString('latin1'), charset: cs };
  }
  if (cs === 'UNICODE UTF-8') {
    try {
      return { kind: 'decoded', text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes), charset: cs };
    } catch {
      return refuse('MSH-18 declares UNICODE UTF-8, and the message is not valid UTF-8', '102');
    }
  }
  const iso = /^8859\/(\d{1,2})$/.exec(cs);
  if (iso && (SUPPORTED_CHARSETS as readonly string[]).includes(cs)) {
    // Node's latin1 is ISO 8859-1 itself (the WHATWG "iso-8859-1" label means windows-1252).
    const text = iso[1] === '1' ? bytes.toString('latin1') : new TextDecoder(`iso-8859-${iso[1]}`).decode(bytes);
    return { kind: 'decoded', text: declareUnicode(text), charset: cs };
  }
  return refuse(`MSH-18 character set ${safe(cs)} is not supported (supported: ${SUPPORTED_CHARSETS.join(', ')})`, '103');
}
