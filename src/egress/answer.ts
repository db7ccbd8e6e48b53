/**
 * Reads an upstream's answer body with a size cap, undoing a Content-Encoding (gzip, deflate,
 * br). An encoding we do not know, or bytes that do not decode, is an error value — never a crash.
 */
import type { IncomingMessage } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

export type AnswerBody = { ok: true; body: Buffer } | { ok: false; error: string };

export function decodeContentEncoding(raw: Buffer, encoding: string | undefined, limit: number): AnswerBody {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  try {
    if (enc === 'identity' || enc === '') return { ok: true, body: raw };
    if (enc === 'gzip' || enc === 'x-gzip') return { ok: true, body: gunzipSync(raw, { maxOutputLength: limit }) };
    if (enc === 'deflate') return { ok: true, body: inflateSync(raw, { maxOutputLength: limit }) };
    if (enc === 'br') return { ok: true, body: brotliDecompressSync(raw, { maxOutputLength: limit }) };
  } catch {
    return { ok: false, error: `answer does not decode as ${enc}` };
  }
  return { ok: false, error: 'answer has an unsupported Content-Encoding' };
}

export function readAnswer(res: IncomingMessage, limit: number): Promise<AnswerBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        res.destroy();
        resolve({ ok: false, error: 'answer too large' });
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(decodeContentEncoding(Buffer.concat(chunks), res.headers['content-encoding'] as string | undefined, limit)));
    res.on('error', () => resolve({ ok: false, error: 'answer cut off' }));
    res.on('aborted', () => resolve({ ok: false, error: 'answer cut off' }));
  });
}
