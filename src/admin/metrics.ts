/**
 * Prometheus metrics (prom-client). Labels carry destination names, states, routes
 * and status codes only — never a patient, identifier or payload (promise 3).
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'darwaza_process_' });
  const m = {
    registry,
    requests: new Counter({ name: 'darwaza_http_requests_total', help: 'LAN API requests by route and status', labelNames: ['route', 'status'], registers: [registry] }),
    decisions: new Counter({ name: 'darwaza_decisions_total', help: 'Per-destination decisions', labelNames: ['destination', 'decision'], registers: [registry] }),
    queueDepth: new Gauge({ name: 'darwaza_queue_messages', help: 'Queue items by destination and state', labelNames: ['destination', 'state'], registers: [registry] }),
    deliveryLatency: new Histogram({
      name: 'darwaza_delivery_latency_seconds',
      help: 'From acceptance to confirmed delivery',
      labelNames: ['destination'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600, 86400],
      registers: [registry],
    }),
    retries: new Counter({ name: 'darwaza_delivery_retries_total', help: 'Delivery attempts that will be retried', labelNames: ['destination'], registers: [registry] }),
    deadLetters: new Counter({ name: 'darwaza_dead_letters_total', help: 'Items dead-lettered', labelNames: ['destination'], registers: [registry] }),
    withdrawn: new Counter({ name: 'darwaza_withdrawn_total', help: 'Queued items withdrawn (consent or policy changed)', labelNames: ['destination'], registers: [registry] }),
    commitBatch: new Histogram({
      name: 'darwaza_commit_batch_size',
      help: 'Messages per group commit',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    commitSeconds: new Histogram({ name: 'darwaza_commit_seconds', help: 'Time of one group commit', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5], registers: [registry] }),
    mllpMessages: new Counter({ name: 'darwaza_mllp_messages_total', help: 'HL7 v2 messages by acknowledgement code', labelNames: ['ack'], registers: [registry] }),
    certDaysLeft: new Gauge({ name: 'darwaza_certificate_days_left', help: 'Days until a certificate expires', labelNames: ['certificate'], registers: [registry] }),
    // Link health per destination (src/egress health.ts), set at each scrape.
    linkRtt: new Gauge({ name: 'darwaza_link_rtt_seconds', help: 'Median time from request to answer over the last minutes', labelNames: ['destination'], registers: [registry] }),
    linkGoodput: new Gauge({ name: 'darwaza_link_goodput_bytes_per_second', help: 'Bytes/s of requests that got an answer', labelNames: ['destination'], registers: [registry] }),
    linkRetryRate: new Gauge({ name: 'darwaza_link_retry_ratio', help: 'Share of delivery outcomes that were retries', labelNames: ['destination'], registers: [registry] }),
    linkWaitingBytes: new Gauge({ name: 'darwaza_link_waiting_bytes', help: 'Payload bytes waiting to be delivered', labelNames: ['destination'], registers: [registry] }),
    queueOldestAge: new Gauge({ name: 'darwaza_queue_oldest_age_seconds', help: 'Age of the oldest message still waiting (queued, retrying or in flight) per destination', labelNames: ['destination'], registers: [registry] }),
    breakerOpen: new Gauge({ name: 'darwaza_breaker_open', help: 'The destination circuit breaker is open (1) or half-open (0.5); closed is 0', labelNames: ['destination'], registers: [registry] }),
    diskFreeBytes: new Gauge({ name: 'darwaza_disk_free_bytes', help: 'Free bytes on the disk of the data folder', registers: [registry] }),
    diskSizeBytes: new Gauge({ name: 'darwaza_disk_size_bytes', help: 'Size of the disk of the data folder', registers: [registry] }),
    queueHeldBytes: new Gauge({ name: 'darwaza_queue_held_bytes', help: 'Payload bytes the queue holds (what its quota counts)', registers: [registry] }),
    queueQuotaBytes: new Gauge({ name: 'darwaza_queue_quota_bytes', help: 'The queue disk quota (limits.queueQuotaBytes)', registers: [registry] }),
    auditVerifyFailures: new Counter({ name: 'darwaza_audit_verify_failures_total', help: 'Scheduled audit log verifications that failed', registers: [registry] }),
    auditVerifiedAt: new Gauge({ name: 'darwaza_audit_last_verified_timestamp_seconds', help: 'When the audit log last verified (Unix time)', registers: [registry] }),
    deadLettersExpiring: new Gauge({ name: 'darwaza_dead_letters_expiring', help: 'Dead letters that retention removes within the warning window', labelNames: ['destination'], registers: [registry] }),
    policyInfo: new Gauge({ name: 'darwaza_policy_info', help: 'The active policy (value 1)', labelNames: ['policy', 'version', 'sha256'], registers: [registry] }),
  };
  return Object.assign(m, {
    /**
     * Starts the event-loop lag figures afresh. Called once the listeners are up: the lag histogram
     * runs from the registry's creation, so without this the first scrape reports the synchronous
     * start (loading the FHIR definitions and compiling profiles, 1-2 s) as a stall of a serving loop.
     * Reading the lag gauge (whose collect fills all the lag figures) resets the histogram.
     */
    resetStartLag(): Promise<unknown> {
      const lag = registry.getSingleMetric('darwaza_process_nodejs_eventloop_lag_seconds');
      return lag ? Promise.resolve(lag.get()) : Promise.resolve();
    },
  });
}

export type Metrics = ReturnType<typeof createMetrics>;
