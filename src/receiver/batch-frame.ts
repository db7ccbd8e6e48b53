/**
 * The batch framing, version 1 (docs/envelope.md, "Batches"): many envelopes in one binary-safe
 * body, so a ciphertext travels as raw bytes instead of base64.
 *
 *   "DZB1"                      4 bytes, magic and version
 *   u8   header encoding        0 none, 1 gzip, 2 br (brotli)
 *   u32  count                  items, big-endian
 *   u32  headers length         then that many bytes: a JSON array (UTF-8, encoded as above)
 *                               of each envelope without its `data` member, `sig` included
 *   count × (u32 length, bytes) each envelope's `data`, decoded from base64
 *
 * An item is rebuilt as the JSON envelope `{ ...header, data: base64(bytes) }`, so the
 * signature and the AEAD verify exactly as for a single envelope. The headers are compressed
 * together: they hold routing metadata (never PHI), key ids, nonces and signatures, nothing an
 * observer could learn from their compressed length. Ciphertexts are never compressed (they
 * would not shrink); payloads are compressed before sealing, one context per message.
 */
import { brotliCompressSync, brotliDecompressSync, constants as zc, gzipSync, gunzipSync } from 'node:zlib';

export const BATCH_CONTENT_TYPE = 'application/vnd.darwaza.batch.v1';
export const BATCH_RESULT_CONTENT_TYPE = 'application/vnd.darwaza.batch-result.v1+json';
export const ENVELOPE_CONTENT_TYPE = 'application/vnd.darwaza.envelope+json';
const MAGIC = Buffer.from('DZB1', 'ascii');
const ENCODINGS = ['none', 'gzip', 'br'] as const;
export type HeaderEncoding = (typeof ENCODINGS)[number];
/** Items in one batch at most (a receiver refuses more). */
export const MAX_BATCH_ITEMS = 10_000;
const MAX_HEADERS_BYTES = 64 * 1024 * 1024;

export interface BatchItem {
  /** The envelope without `data` (sig included). */
  header: Record<string, unknown>;
  /** The envelope's data, as raw bytes. */
  data: Uint8Array;
}

export class BatchFrameError extends Error {
  override name = 'BatchFrameError';
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function encodeHeaders(json: Buffer, enc: HeaderEncoding): Buffer {
  if (enc === 'gzip') return gzipSync(json);
  if (enc === 'br') return brotliCompressSync(json, { params: { [zc.BROTLI_PARAM_QUALITY]: 5, [zc.BROTLI_PARAM_SIZE_HINT]: json.length } });
  return json;
}

export function encodeBatch(items: BatchItem[], headerEncoding: HeaderEncoding = 'gzip'): Buffer {
  if (items.length === 0 || items.length > MAX_BATCH_ITEMS) throw new BatchFrameError(`a batch holds 1 to ${MAX_BATCH_ITEMS} items`);
  const headers = encodeHeaders(Buffer.from(JSON.stringify(items.map((i) => i.header)), 'utf8'), headerEncoding);
  const parts: Buffer[] = [MAGIC, Buffer.from([ENCODINGS.indexOf(headerEncoding)]), u32(items.length), u32(headers.length), headers];
  for (const it of items) {
    parts.push(u32(it.data.byteLength), Buffer.from(it.data.buffer, it.data.byteOffset, it.data.byteLength));
  }
  return Buffer.concat(parts);
}

/** Parses a batch body; throws BatchFrameError (never a crash) on anything malformed. */
export function decodeBatch(body: Uint8Array, maxHeadersBytes = MAX_HEADERS_BYTES): BatchItem[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (buf.length < 13 || !buf.subarray(0, 4).equals(MAGIC)) throw new BatchFrameError('not a darwaza batch (v1)');
  const enc = ENCODINGS[buf[4]!];
  if (!enc) throw new BatchFrameError('unknown header encoding');
  const count = buf.readUInt32BE(5);
  if (count === 0 || count > MAX_BATCH_ITEMS) throw new BatchFrameError('item count out of range');
  const hlen = buf.readUInt32BE(9);
  let at = 13;
  if (at + hlen > buf.length) throw new BatchFrameError('headers run past the end of the body');
  let json: Buffer;
  try {
    const raw = buf.subarray(at, at + hlen);
    json =
      enc === 'gzip'
        ? gunzipSync(raw, { maxOutputLength: maxHeadersBytes })
        : enc === 'br'
          ? brotliDecompressSync(raw, { maxOutputLength: maxHeadersBytes })
          : raw;
  } catch {
    throw new BatchFrameError('headers do not decompress');
  }
  at += hlen;
  let headers: unknown;
  try {
    headers = JSON.parse(json.toString('utf8'));
  } catch {
    throw new BatchFrameError('headers are not JSON');
  }
  if (!Array.isArray(headers) || headers.length !== count) throw new BatchFrameError('headers do not match the item count');
  const items: BatchItem[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > buf.length) throw new BatchFrameError(`item ${i}: truncated`);
    const len = buf.readUInt32BE(at);
    at += 4;
    if (at + len > buf.length) throw new BatchFrameError(`item ${i}: truncated`);
    const h = headers[i] as unknown;
    if (!h || typeof h !== 'object' || Array.isArray(h)) throw new BatchFrameError(`item ${i}: header is not an object`);
    items.push({ header: h as Record<string, unknown>, data: new Uint8Array(buf.buffer, buf.byteOffset + at, len) });
    at += len;
  }
  if (at !== buf.length) throw new BatchFrameError('bytes after the last item');
  return items;
}

/** The item as the JSON envelope it was cut from (the signature covers exactly this). */
export function itemToEnvelopeJson(item: BatchItem): Buffer {
  return Buffer.from(JSON.stringify({ ...item.header, data: Buffer.from(item.data).toString('base64') }), 'utf8');
}

/** A stored JSON envelope cut into header and raw data; undefined when it is not an envelope. */
export function envelopeToItem(body: Uint8Array): (BatchItem & { id: string }) | undefined {
  let env: unknown;
  try {
    env = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!env || typeof env !== 'object' || Array.isArray(env)) return undefined;
  const { data, ...header } = env as Record<string, unknown>;
  const id = (header.meta as { id?: unknown } | undefined)?.id;
  if (typeof data !== 'string' || typeof id !== 'string') return undefined;
  const raw = Buffer.from(data, 'base64');
  // Only canonical base64 round-trips; anything else would not verify after rebuilding.
  if (raw.toString('base64') !== data) return undefined;
  return { id, header, data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
}

/** One answer per item, in the order sent. */
export interface BatchResult {
  id: string;
  status: number;
  reason?: string;
}

export function encodeBatchResults(results: BatchResult[]): string {
  return JSON.stringify({ v: 1, results });
}

/**
 * Checks a receiver's answer against what was sent: one result per item, same ids in the
 * same order, each an HTTP status. Anything else is malformed (undefined): the sender must
 * retry the whole batch, never take it as delivered.
 */
export function parseBatchResults(text: string, sentIds: readonly string[]): BatchResult[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = v as { v?: unknown; results?: unknown };
  if (!o || typeof o !== 'object' || o.v !== 1 || !Array.isArray(o.results) || o.results.length !== sentIds.length) return undefined;
  const out: BatchResult[] = [];
  for (let i = 0; i < sentIds.length; i++) {
    const r = o.results[i] as { id?: unknown; status?: unknown; reason?: unknown } | null;
    if (!r || typeof r !== 'object' || r.id !== sentIds[i]) return undefined;
    if (typeof r.status !== 'number' || !Number.isInteger(r.status) || r.status < 200 || r.status > 599) return undefined;
    out.push({ id: r.id as string, status: r.status, ...(typeof r.reason === 'string' ? { reason: r.reason.slice(0, 200) } : {}) });
  }
  return out;
}
