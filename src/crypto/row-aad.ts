/**
 * Associated data that binds an at-rest ciphertext to the row that holds it. Each part is
 * length-prefixed, so ("ab", "c") and ("a", "bc") never give the same bytes, and the kind
 * comes first, so a consent ciphertext can never pass for a queue payload.
 */
import { concatBytes, utf8 } from './encoding.js';

export function bindRow(kind: string, ...parts: readonly (string | number)[]): Uint8Array {
  const out: Uint8Array[] = [];
  for (const p of [kind, ...parts]) {
    const b = utf8(String(p));
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, b.length);
    out.push(len, b);
  }
  return concatBytes(...out);
}

/** A consent version: its id, version and status (the columns lookups act on). */
export const consentRowAad = (id: string, version: number, status: string): Uint8Array => bindRow('consent', id, version, status);

/** A queue item: the message it belongs to and where it goes. */
export const queueItemAad = (messageId: string, destination: string): Uint8Array => bindRow('queue-item', messageId, destination);
/** A patient-memory row (birth date, identity binding) is bound to its token and kind. */
export const patientMemoryAad = (token: string, kind: string): Uint8Array => bindRow('patient-memory', token, kind);
