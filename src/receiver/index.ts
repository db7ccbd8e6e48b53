/**
 * The receiver kit: what an upstream (national) service embeds to take darwaza deliveries —
 * single envelopes and batches, signature checked, opened, de-duplicated, persisted before 2xx.
 * See docs/links.md; the wire format is docs/envelope.md.
 */
export {
  createReceiverKit,
  envelopeOpener,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type ReceiverKit,
  type ReceiverKitOptions,
  type KitAnswer,
  type AcceptedEnvelope,
  type OpenVerdict,
  type EnvelopeOpener,
  type EnvelopeMetaLike,
} from './kit.js';
export { memoryReceiptStore, fileReceiptStore, type ReceiptStore, type ListedReceiptStore, type FileReceiptOptions } from './receipts.js';
export {
  BATCH_CONTENT_TYPE,
  BATCH_RESULT_CONTENT_TYPE,
  ENVELOPE_CONTENT_TYPE,
  MAX_BATCH_ITEMS,
  BatchFrameError,
  encodeBatch,
  decodeBatch,
  itemToEnvelopeJson,
  envelopeToItem,
  encodeBatchResults,
  parseBatchResults,
  type BatchItem,
  type BatchResult,
  type HeaderEncoding,
} from './batch-frame.js';
export { compressPayload, decompressPayload, PAYLOAD_ENCODINGS, type PayloadEncoding, type Decompressed } from './content-encoding.js';
export { createResumableReceiver, DEFAULT_RESUMABLE_PATH, type ResumableReceiver } from './resumable.js';
