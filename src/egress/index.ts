/**
 * Upstream clients: the uplink that POSTs sealed envelopes to national services.
 */
export { createUplink, DEFAULT_USER_AGENT, type Uplink, type UplinkOptions, type DeliveryHeaders } from './uplink.js';
export { classifyStatus, parseRetryAfter, MAX_RETRY_AFTER_MS } from './status.js';
export type { DeliveryResult } from '../model/index.js';
