/**
 * Batched delivery (docs/envelope.md, "Batches"): many envelopes in one POST, answered per item.
 * A partial failure retries only what failed. An answer that is not a well-formed per-item
 * result for exactly what was sent fails the whole batch as a retry, never as delivered; so
 * does a batch-level refusal (it does not say which item was at fault).
 */
import type { DeliveryResult, Destination } from '../model/index.js';
import { BATCH_CONTENT_TYPE, encodeBatch, envelopeToItem, parseBatchResults, type BatchItem } from '../receiver/index.js';
import { classifyStatus } from './status.js';
import type { Uplink } from './uplink.js';

export interface BatchEntry {
  /** The message id (Idempotency-Key, meta.id). */
  id: string;
  /** The stored JSON envelope. */
  payload: Uint8Array;
  contentType: string;
}

const ANSWER_LIMIT = 64 * 1024;

export async function deliverBatch(uplink: Uplink, d: Destination, entries: BatchEntry[], clock: () => number = Date.now): Promise<DeliveryResult[]> {
  const results: (DeliveryResult | undefined)[] = entries.map(() => undefined);
  const framed: { index: number; item: BatchItem }[] = [];
  const singles: Promise<void>[] = [];
  entries.forEach((e, index) => {
    const item = envelopeToItem(e.payload);
    if (item && item.id === e.id) framed.push({ index, item });
    // Not a JSON envelope (or not this id's): it goes on its own, as before.
    else singles.push(uplink.deliver(d, e.payload, { idempotencyKey: e.id, contentType: e.contentType }).then((r) => void (results[index] = r)));
  });
  if (framed.length === 1) {
    const { index } = framed[0]!;
    const e = entries[index]!;
    singles.push(uplink.deliver(d, e.payload, { idempotencyKey: e.id, contentType: e.contentType }).then((r) => void (results[index] = r)));
  } else if (framed.length > 1) {
    const ids = framed.map((f) => entries[f.index]!.id);
    const body = encodeBatch(
      framed.map((f) => f.item),
      d.compress === 'br' ? 'br' : 'gzip',
    );
    const answer = await uplink.post(d, body, {
      headers: { 'content-type': BATCH_CONTENT_TYPE, 'x-darwaza-batch-items': String(framed.length), 'accept-encoding': 'gzip, br' },
      readBodyLimit: ANSWER_LIMIT + 256 * framed.length,
    });
    const perItem = batchOutcome(answer, ids, clock());
    framed.forEach((f, i) => (results[f.index] = perItem[i]));
  }
  await Promise.all(singles);
  return results.map((r) => r ?? { kind: 'retry', error: 'not sent' });
}

/** The per-item results of one batch exchange (pure). */
export function batchOutcome(answer: Awaited<ReturnType<Uplink['post']>>, ids: readonly string[], now: number): DeliveryResult[] {
  const all = (r: DeliveryResult) => ids.map(() => r);
  if (answer.kind === 'failed') return all({ kind: 'retry', error: answer.error });
  const retryAfter = answer.headers['retry-after'];
  if (answer.status !== 200) {
    const whole = classifyStatus(answer.status, retryAfter, now);
    // A refusal of the whole batch does not say which item was at fault: retry, never dead-letter all.
    return all(whole.kind === 'dead' ? { kind: 'retry', status: answer.status, error: `batch refused (HTTP ${answer.status})` } : whole.kind === 'delivered' ? { kind: 'retry', status: answer.status, error: `batch answered HTTP ${answer.status} without per-item results` } : whole);
  }
  const results = answer.body ? parseBatchResults(answer.body.toString('utf8'), ids) : undefined;
  if (!results) return all({ kind: 'retry', status: 200, error: 'malformed per-item answer' });
  return results.map((r) => classifyStatus(r.status, retryAfter, now));
}
