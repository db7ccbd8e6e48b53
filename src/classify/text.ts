/**
 * Finding identity in free text (narrative, reference displays, decoded attachments,
 * HL7 v2 notes): CNICs, phone numbers, e-mail addresses and titled names. Text is
 * normalised first so a sender cannot hide a CNIC behind Urdu or full-width digits,
 * zero-width characters, odd dashes or non-breaking spaces.
 */

/** Zero digit of each Unicode decimal-digit block we fold to ASCII (NFKC does full-width). */
const DIGIT_ZEROS = [
  0x0660, 0x06f0, 0x07c0, 0x0966, 0x09e6, 0x0a66, 0x0ae6, 0x0b66, 0x0be6, 0x0c66, 0x0ce6, 0x0d66, 0x0de6, 0x0e50,
  0x0ed0, 0x0f20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xaa50, 0xff10,
];
const INVISIBLE = /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]/g;
const DASHES = /[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]/g;
const ASCII = /^[\x00-\x7f]*$/;
const SPACES = /[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/g;

function foldDigit(ch: string): string {
  const cp = ch.codePointAt(0)!;
  for (const z of DIGIT_ZEROS) if (cp >= z && cp <= z + 9) return String(cp - z);
  return ch;
}

/** NFKC, Unicode digits → ASCII, invisible characters removed, dashes → '-', spaces → ' '. */
export function normalizeText(s: string): string {
  // Plain ASCII has nothing to fold (the common case, kept cheap: this runs on every code).
  if (ASCII.test(s)) return s;
  let t = s.normalize('NFKC').replace(INVISIBLE, '').replace(DASHES, '-').replace(SPACES, ' ');
  if (/[^\x00-\x7f]/.test(t)) t = t.replace(/\p{Nd}/gu, foldDigit);
  return t;
}

// 5-7-1 digits with '-', ' ' or nothing between the groups; not inside a longer number.
const CNIC_IN_TEXT = /(?<![\d])(\d{5})[ -]?(\d{7})[ -]?(\d)(?![\d])/g;
// Pakistani mobiles (03xx, +92 3xx) and landlines written with a country code, and other +CC numbers.
const PHONE_IN_TEXT = /(?<![\d])(?:(?:\+|00)\d{1,3}[ -]?)?(?:\(?0?3\d{2}\)?[ -]?\d{7}|\(?\d{2,4}\)?[ -]?\d{3}[ -]?\d{4})(?![\d])/;
const EMAIL_IN_TEXT = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/;
// A title or a field label followed by a capitalised word: "Mr Ali", "Name: Ayesha", "Patient: Khan".
const NAME_IN_TEXT = /\b(?:Mr|Mrs|Ms|Miss|Mst|Dr|Name|Patient|Pt|S\/O|D\/O|W\/O)\b\.?:?\s+\p{Lu}\p{L}+/u;

export interface TextIdentity {
  /** CNICs found, normalised to #####-#######-#. */
  cnics: string[];
  phone: boolean;
  email: boolean;
  name: boolean;
}

/** Identifiers in a piece of free text. */
export function identityInText(raw: string): TextIdentity {
  const t = normalizeText(raw);
  const cnics: string[] = [];
  for (const m of t.matchAll(CNIC_IN_TEXT)) cnics.push(`${m[1]}-${m[2]}-${m[3]}`);
  return { cnics: [...new Set(cnics)], phone: PHONE_IN_TEXT.test(t), email: EMAIL_IN_TEXT.test(t), name: NAME_IN_TEXT.test(t) };
}

export const anyIdentity = (i: TextIdentity): boolean => i.cnics.length > 0 || i.phone || i.email || i.name;

/** A reference display names a person when it holds letters (a name) or a CNIC. */
export const displayNamesPerson = (display: string): boolean => /\p{L}{2}/u.test(display) || identityInText(display).cnics.length > 0;
