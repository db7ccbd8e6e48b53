/**
 * Payload compression before sealing (docs/envelope.md, "Compression"): one zlib context per
 * message, named in meta.contentEncoding ("gzip" or "br"), so the receiver decompresses after
 * opening. Ciphertext does not compress, so this is the only place it can happen.
 */
import { brotliCompressSync, brotliDecompressSync, constants as zc, gunzipSync, gzipSync } from 'node:zlib';

export const PAYLOAD_ENCODINGS = ['gzip', 'br'] as const;
export type PayloadEncoding = (typeof PAYLOAD_ENCODINGS)[number];

export function compressPayload(payload: Uint8Array, encoding: PayloadEncoding): Uint8Array {
  const out =
    encoding === 'br'
      ? brotliCompressSync(payload, {
          params: { [zc.BROTLI_PARAM_QUALITY]: 6, [zc.BROTLI_PARAM_MODE]: zc.BROTLI_MODE_TEXT, [zc.BROTLI_PARAM_SIZE_HINT]: payload.byteLength },
        })
      : gzipSync(payload, { level: 6 });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export type Decompressed = { ok: true; payload: Uint8Array } | { ok: false; status: number; reason: string };

/** Undoes compressPayload; refuses unknown encodings (422) and bombs over maxBytes (413). */
export function decompressPayload(payload: Uint8Array, encoding: string | undefined, maxBytes: number): Decompressed {
  if (encoding === undefined || encoding === '' || encoding === 'identity') return { ok: true, payload };
  if (!(PAYLOAD_ENCODINGS as readonly string[]).includes(encoding)) return { ok: false, status: 422, reason: 'unsupported meta.contentEncoding' };
  try {
    const out = encoding === 'br' ? brotliDecompressSync(payload, { maxOutputLength: maxBytes }) : gunzipSync(payload, { maxOutputLength: maxBytes });
    return { ok: true, payload: new Uint8Array(out.buffer, out.byteOffset, out.byteLength) };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'ERR_BUFFER_TOO_LARGE'
      ? { ok: false, status: 413, reason: 'payload too large once decompressed' }
      : { ok: false, status: 400, reason: 'payload does not decompress' };
  }
}
