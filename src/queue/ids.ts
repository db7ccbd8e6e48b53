/**
 * Time-ordered message ids (UUID version 7 layout: 48-bit Unix ms, then random bits).
 * The queue's message-id indexes then grow at their right edge like the row ids do,
 * instead of taking random inserts all over a large B-tree: enqueue cost stays flat
 * with the backlog. Plain UUID v4 ids work too, a little slower at a large backlog.
 */
import { randomBytes } from 'node:crypto';

export function newMessageId(now: number = Date.now()): string {
  const b = randomBytes(16);
  const ms = BigInt(Math.max(0, Math.floor(now)));
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6]! & 0x0f) | 0x70; // version 7
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
