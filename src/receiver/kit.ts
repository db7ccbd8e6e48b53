/**
 * The receiver kit: what an upstream service embeds to take deliveries from darwaza gateways
 * (docs/links.md). Per delivery, in this order:
 *   open (verify the signature, open the envelope; the opener decides) → de-duplicate by
 *   Idempotency-Key → decompress (meta.contentEncoding) → persist → write the receipt → 2xx.
 * Nothing is answered 2xx before persist and the receipt both succeeded; a failure there is a
 * 503 (the gateway retries, and the receipt check makes the retry safe). A batch
 * (application/vnd.darwaza.batch.v1) is answered per item, so the gateway retries only what
 * failed. Ids being persisted by another request are answered 503 too: telling that sender
 * "duplicate" would count as delivered before the first request has stored anything.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createReceiver, type ReceiverOptions, type ReplayStore } from '../crypto/index.js';
import {
  BATCH_CONTENT_TYPE,
  BATCH_RESULT_CONTENT_TYPE,
  ENVELOPE_CONTENT_TYPE,
  BatchFrameError,
  decodeBatch,
  encodeBatchResults,
  itemToEnvelopeJson,
  type BatchResult,
} from './batch-frame.js';
import { decompressPayload } from './content-encoding.js';
import { memoryReceiptStore, type ReceiptStore } from './receipts.js';

export type EnvelopeMetaLike = Record<string, string | undefined> & { id?: string };

/** What the opener says about one envelope: meta and payload when it opened it. */
export type OpenVerdict = { ok: true; meta?: EnvelopeMetaLike; payload?: Uint8Array } | { ok: false; status: number; reason: string };
export type EnvelopeOpener = (body: Buffer, headers: IncomingHttpHeaders) => OpenVerdict;

export interface AcceptedEnvelope {
  id: string;
  meta?: EnvelopeMetaLike;
  /** Opened and decompressed (absent when the opener does not open, e.g. a pass-through). */
  payload?: Uint8Array;
}

export interface ReceiverKitOptions {
  open: EnvelopeOpener;
  /** De-duplication by id; default in memory (a service should pass a durable store). */
  receipts?: ReceiptStore;
  /** Stores what was accepted; must be durable when it resolves. Called once per request. */
  persist?: (accepted: AcceptedEnvelope[]) => void | Promise<void>;
  /** What a repeated id is answered: 409 (the contract) or 200. Both count as delivered. */
  duplicateStatus?: 200 | 409;
  /** Largest payload once decompressed (default 64 MiB). */
  maxDecompressedBytes?: number;
}

export interface KitAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Ids accepted (persisted) by this request. */
  accepted: string[];
  duplicates: number;
  /** Items refused for good (4xx other than 409). */
  rejected: number;
  /** Items to be sent again (5xx). */
  retry: number;
}

export interface ReceiverKit {
  handle(body: Buffer, headers: IncomingHttpHeaders): Promise<KitAnswer>;
  /** A node:http handler: reads the body (up to maxBodyBytes), handles it, answers. */
  nodeHandler(maxBodyBytes?: number): (req: IncomingMessage, res: ServerResponse) => void;
}

export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;
const ID_RE = /^[^\r\n\0]{1,200}$/;

const json = (status: number, value: unknown, extra: Record<string, string> = {}, counts: Partial<KitAnswer> = {}): KitAnswer => ({
  status,
  headers: { 'content-type': 'application/json', ...extra },
  body: JSON.stringify(value),
  accepted: [],
  duplicates: 0,
  rejected: status >= 400 && status < 500 && status !== 409 ? 1 : 0,
  retry: status >= 500 ? 1 : 0,
  ...counts,
});

export function createReceiverKit(opts: ReceiverKitOptions): ReceiverKit {
  const receipts = opts.receipts ?? memoryReceiptStore();
  const dupStatus = opts.duplicateStatus ?? 409;
  const maxOut = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const inProgress = new Set<string>();

  type Step = { kind: 'fresh'; item: AcceptedEnvelope } | { kind: 'answer'; status: number; reason?: string };

  /** Everything short of persisting: open, de-duplicate, decompress. */
  function examine(id: string, body: Buffer, headers: IncomingHttpHeaders): Step {
    let verdict: OpenVerdict;
    try {
      verdict = opts.open(body, headers);
    } catch {
      verdict = { ok: false, status: 400, reason: 'envelope could not be opened' };
    }
    // An opener with its own replay memory says 409: that is a duplicate, not a refusal.
    if (!verdict.ok) return verdict.status === 409 ? { kind: 'answer', status: dupStatus } : { kind: 'answer', status: verdict.status, reason: verdict.reason };
    // A replay is judged by the signed meta.id first, whatever Idempotency-Key it came under.
    if (receipts.has(verdict.meta?.id ?? id)) return { kind: 'answer', status: dupStatus };
    if (verdict.meta?.id !== undefined && verdict.meta.id !== id) return { kind: 'answer', status: 400, reason: 'Idempotency-Key differs from meta.id' };
    if (inProgress.has(id)) return { kind: 'answer', status: 503, reason: 'the same id is being stored by another request' };
    let payload = verdict.payload;
    if (payload && verdict.meta?.contentEncoding) {
      const d = decompressPayload(payload, verdict.meta.contentEncoding, maxOut);
      if (!d.ok) return { kind: 'answer', status: d.status, reason: d.reason };
      payload = d.payload;
    }
    return { kind: 'fresh', item: { id, ...(verdict.meta ? { meta: verdict.meta } : {}), ...(payload ? { payload } : {}) } };
  }

  /** persist, then receipts; true when both are durable. */
  async function commit(items: AcceptedEnvelope[]): Promise<boolean> {
    if (!items.length) return true;
    for (const it of items) inProgress.add(it.id);
    try {
      await opts.persist?.(items);
      await receipts.add(items.map((i) => i.id));
      return true;
    } catch {
      return false;
    } finally {
      for (const it of items) inProgress.delete(it.id);
    }
  }

  async function handleSingle(body: Buffer, headers: IncomingHttpHeaders): Promise<KitAnswer> {
    const key = headers['idempotency-key'];
    if (typeof key !== 'string' || !ID_RE.test(key)) return json(400, { error: 'Idempotency-Key header is required' });
    const step = examine(key, body, headers);
    if (step.kind === 'answer') {
      if (step.status === dupStatus && step.reason === undefined) return json(dupStatus, { id: key, duplicate: true }, {}, { duplicates: 1, rejected: 0 });
      return json(step.status, { error: step.reason ?? `HTTP ${step.status}` }, step.status === 503 ? { 'retry-after': '1' } : {});
    }
    if (!(await commit([step.item]))) return json(503, { error: 'could not be stored; send again' }, { 'retry-after': '1' });
    return json(200, { id: key, accepted: true }, {}, { accepted: [key] });
  }

  async function handleBatch(body: Buffer): Promise<KitAnswer> {
    let items;
    try {
      items = decodeBatch(body);
    } catch (err) {
      if (err instanceof BatchFrameError) return json(400, { error: err.message });
      throw err;
    }
    const results: BatchResult[] = [];
    const fresh: { index: number; item: AcceptedEnvelope }[] = [];
    const inThisBatch = new Set<string>();
    for (const [i, it] of items.entries()) {
      const id = (it.header.meta as { id?: unknown } | undefined)?.id;
      if (typeof id !== 'string' || !ID_RE.test(id)) {
        results.push({ id: typeof id === 'string' ? id : '', status: 400, reason: 'meta.id is required' });
        continue;
      }
      if (inThisBatch.has(id)) {
        results.push({ id, status: dupStatus });
        continue;
      }
      inThisBatch.add(id);
      const step = examine(id, itemToEnvelopeJson(it), { 'content-type': ENVELOPE_CONTENT_TYPE, 'idempotency-key': id });
      if (step.kind === 'answer') {
        results.push({ id, status: step.status, ...(step.reason ? { reason: step.reason } : {}) });
      } else {
        results.push({ id, status: 200 });
        fresh.push({ index: i, item: step.item });
      }
    }
    const stored = await commit(fresh.map((f) => f.item));
    if (!stored) for (const f of fresh) results[f.index] = { id: f.item.id, status: 503, reason: 'could not be stored; send again' };
    const count = (p: (s: number) => boolean) => results.filter((r) => p(r.status)).length;
    return {
      status: 200,
      headers: { 'content-type': BATCH_RESULT_CONTENT_TYPE },
      body: encodeBatchResults(results),
      accepted: stored ? fresh.map((f) => f.item.id) : [],
      duplicates: results.filter((r, i) => r.status === dupStatus && !fresh.some((f) => f.index === i)).length,
      rejected: count((s) => s >= 400 && s < 500 && s !== 409),
      retry: count((s) => s >= 500),
    };
  }

  const handle: ReceiverKit['handle'] = (body, headers) =>
    (headers['content-type'] ?? '').toLowerCase().startsWith(BATCH_CONTENT_TYPE) ? handleBatch(body) : handleSingle(body, headers);

  return {
    handle,
    nodeHandler(maxBodyBytes = DEFAULT_MAX_DECOMPRESSED_BYTES) {
      return (req, res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= maxBodyBytes) chunks.push(c);
        });
        req.on('error', () => res.destroy());
        req.on('end', () => {
          const answer = (a: KitAnswer) => {
            res.writeHead(a.status, { ...a.headers, 'content-length': Buffer.byteLength(a.body) });
            res.end(a.body);
          };
          if (size > maxBodyBytes) return answer(json(413, { error: 'body too large' }));
          handle(Buffer.concat(chunks), req.headers).then(answer, () => answer(json(500, { error: 'receiver error' })));
        });
      };
    },
  };
}

/** Replay is the kit's job (after persisting); the envelope receiver underneath must not remember ids. */
const NO_REPLAY: ReplayStore = { has: () => false, add: () => {} };

/** An opener that verifies and opens envelopes with createReceiver (docs/envelope.md). */
export async function envelopeOpener(options: Omit<ReceiverOptions, 'replayStore'>): Promise<EnvelopeOpener> {
  const receiver = await createReceiver({ ...options, replayStore: NO_REPLAY });
  return (body) => {
    const r = receiver.open(body);
    return r.ok ? { ok: true, meta: r.meta, payload: r.payload } : { ok: false, status: r.status, reason: r.reason };
  };
}
