/**
 * Large envelopes over a size threshold go up with the tus resumable-upload protocol
 * (tus-js-client): in chunks, and after a drop the upload resumes from the offset the server
 * holds instead of restarting. The receiver's verdict on the whole envelope is the answer to
 * the last chunk (src/receiver resumable.ts), read with the same contract as a single POST.
 * Upload metadata carries the Idempotency-Key and content type, nothing else.
 */
import type { Agent } from 'node:http';
import * as tus from 'tus-js-client';
import type { DeliveryResult, Destination } from '../model/index.js';
import { classifyStatus } from './status.js';
import type { DeliveryHeaders } from './uplink.js';

export const DEFAULT_RESUMABLE_CHUNK = 256 * 1024;
/** Waits between resumes inside one delivery; after the last, the dispatcher's backoff takes over. */
const RETRY_DELAYS = [0, 500, 1000, 2000, 3000, 5000, 5000, 5000, 10_000, 10_000, 10_000, 20_000, 20_000, 30_000];

export interface ResumableStats {
  /** Bytes of chunk bodies sent (all attempts). */
  bytesSent: number;
}

export function resumableEndpoint(d: Destination): string {
  return new URL(d.resumable?.path ?? '/tus/', d.url).toString();
}

export function deliverResumable(
  d: Destination,
  body: Uint8Array,
  headers: DeliveryHeaders,
  opts: {
    clock?: () => number;
    chunkSize?: number;
    stats?: ResumableStats;
    /** The destination's agent (https: its CA, client certificate and pin check), so chunks go exactly as a POST would. */
    agent?: Agent;
  } = {},
): Promise<DeliveryResult> {
  const clock = opts.clock ?? Date.now;
  return new Promise((resolve) => {
    const upload = new tus.Upload(Buffer.from(body.buffer, body.byteOffset, body.byteLength), {
      endpoint: resumableEndpoint(d),
      // tus-js-client's Node stack hands these options to http(s).request for every HEAD/POST/PATCH.
      ...(opts.agent ? { httpStack: new tus.DefaultHttpStack({ agent: opts.agent }) } : {}),
      chunkSize: opts.chunkSize ?? d.resumable?.chunkBytes ?? DEFAULT_RESUMABLE_CHUNK,
      retryDelays: RETRY_DELAYS,
      uploadSize: body.byteLength,
      metadata: { idempotencyKey: headers.idempotencyKey, contentType: headers.contentType },
      storeFingerprintForResuming: false,
      onChunkComplete: (chunk) => {
        if (opts.stats) opts.stats.bytesSent += chunk;
      },
      // The receiver's verdict (4xx) is final; resets, 5xx, 423, offset conflicts and an upload the
      // server no longer knows (404/410: it lost its state; the retry starts a fresh upload) go on.
      // A TLS verification failure (CA, host name, pin) will not heal in seconds: it goes straight back to
      // the dispatcher, whose backoff, breaker and error text ("network error (CODE)") take over.
      onShouldRetry: (err) => {
        const status = err.originalResponse?.getStatus();
        if (status === undefined && tlsRefusal(err)) return false;
        return status === undefined || status >= 500 || [404, 409, 410, 423, 429].includes(status);
      },
      onSuccess: ({ lastResponse }) => resolve(classifyStatus(lastResponse.getStatus(), lastResponse.getHeader('retry-after'), clock())),
      onError: (err) => {
        const res = (err as tus.DetailedError).originalResponse;
        const status = res?.getStatus();
        // A lost upload (404/410) or an offset conflict is the transport's, never the envelope's fault.
        const refused = !res ? tlsRefusal(err) : undefined;
        if (refused) resolve({ kind: 'retry', error: `network error (${refused})` });
        else if (!res || status === 404 || status === 409 || status === 410) resolve({ kind: 'retry', error: status ? `resumable upload lost (HTTP ${status})` : 'resumable upload interrupted' });
        else resolve(classifyStatus(res.getStatus(), res.getHeader('retry-after'), clock()));
      },
    });
    upload.start();
  });
}

/** The code of a TLS verification failure under a tus error (e.g. ERR_TLS_PIN_MISMATCH, CERT_HAS_EXPIRED), else undefined. */
function tlsRefusal(err: Error): string | undefined {
  const code = ((err as tus.DetailedError).causingError as NodeJS.ErrnoException | undefined)?.code;
  return code && /^ERR_TLS_|CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME/.test(code) ? code : undefined;
}
