/**
 * Upstream clients: the uplink that POSTs sealed envelopes (one, or a batch) to national services.
 */
export {
  createUplink,
  DEFAULT_USER_AGENT,
  type Uplink,
  type UplinkOptions,
  type DeliveryHeaders,
  type ExchangeSample,
  type PostOutcome,
  type PostOptions,
} from './uplink.js';
export { deliverBatch, batchOutcome, type BatchEntry } from './batch.js';
export { decodeContentEncoding } from './answer.js';
export { classifyStatus, parseRetryAfter, MAX_RETRY_AFTER_MS } from './status.js';
export type { DeliveryResult } from '../model/index.js';
export { createLinkHealth, linkStatus, DEFAULT_HEALTH_WINDOW_MS, type LinkHealth, type LinkStatus, type QueueView } from './health.js';
export { probeDestination, type ProbeStep, type ProbeVerdict, type ProbeOptions } from './probe.js';
export { deliverResumable, resumableEndpoint, DEFAULT_RESUMABLE_CHUNK, type ResumableStats } from './resumable.js';
