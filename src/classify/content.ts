/**
 * What an attachment or Binary holds: base64 is decoded and the bytes are recognised
 * as FHIR JSON, HL7 v2, or text. Anything else (PDF, images, bad base64, binary) is
 * opaque: classification cannot see inside, so it must assume the worst.
 */

export type Content =
  | { kind: 'fhir'; resource: Record<string, unknown> & { resourceType: string } }
  | { kind: 'hl7v2'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'opaque'; why: string };

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decode base64 (standard or URL-safe, whitespace allowed); null when it is not base64. */
export function decodeBase64(s: string): Buffer | null {
  const compact = s.replace(/\s+/g, '');
  if (compact.length === 0 || !BASE64.test(compact)) return null;
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

/** Share of control characters (other than tab/CR/LF) that makes text binary. */
const MAX_CONTROL_SHARE = 0.01;

function looksBinary(text: string): boolean {
  let ctl = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 9 && c !== 10 && c !== 13) || c === 0x7f) ctl++;
  }
  return ctl > text.length * MAX_CONTROL_SHARE;
}

/** Recognise decoded bytes. */
export function recognise(bytes: Buffer): Content {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: 'opaque', why: 'not UTF-8 text' };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (looksBinary(text)) return { kind: 'opaque', why: 'binary content' };
  const head = text.trimStart();
  if (head.startsWith('{')) {
    try {
      const v = JSON.parse(head) as unknown;
      if (v && typeof v === 'object' && typeof (v as { resourceType?: unknown }).resourceType === 'string') {
        return { kind: 'fhir', resource: v as Record<string, unknown> & { resourceType: string } };
      }
    } catch {
      // not JSON after all: read it as text
    }
  }
  if (/^MSH(.)/.test(head)) return { kind: 'hl7v2', text: head };
  return { kind: 'text', text };
}

/** Decode and recognise one base64 value. */
export function readBase64(s: string): Content {
  const bytes = decodeBase64(s);
  return bytes ? recognise(bytes) : { kind: 'opaque', why: 'not base64' };
}
