/**
 * Link benchmarks (run: npx tsx bench/links.ts), measured at the chaos proxy (test/helpers),
 * headers included, against a baseline from the same run (one envelope per request, as before
 * batching):
 *  - bytes on the wire per ~2 KB Observation: batched + compressed vs one per request
 *    (target ≤ 40% of the baseline);
 *  - goodput through the proxy shaped to 256 kbit/s and 300 ms RTT (target ≥ 80% of capacity);
 *  - emergency (ETREAT) latency with a saturated bulk backlog on that link
 *    (target p50 ≤ 2 × RTT + its own send time);
 *  - resume: a 20 MB payload over a link that resets every 5 s (target: bytes sent ≤ 1.3 ×).
 * BENCH_LINKS=bytes,goodput,emergency,resume picks parts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Destination } from '../src/model/index.js';
import { openDatabase } from '../src/store/index.js';
import { Dispatcher, SqliteQueueStore } from '../src/queue/index.js';
import { createUplink, deliverBatch } from '../src/egress/index.js';
import { startSimulator } from '../src/sim/index.js';
import type { PayloadEncoding } from '../src/receiver/index.js';
import { startChaosProxy, type Faults } from '../test/helpers/chaos-proxy.js';
import { linkKeys, observation } from '../test/helpers/links.js';

const say = (line: string) => process.stderr.write(`[bench/links] ${line}\n`);
const RATE = 256_000 / 8; // 256 kbit/s in bytes/s
const RTT = 300;

interface LinkRun {
  bytesUp: number;
  bytesDown: number;
  ms: number;
  delivered: Map<string, number>;
  sent: Map<string, number>;
  resets: number;
  envelopeBytes: number;
}

async function runLink(o: {
  n: number;
  batch?: Destination['batch'];
  compress?: PayloadEncoding;
  faults?: Partial<Faults>;
  concurrency?: number;
  /** Enqueue these ETREAT messages one at a time while the bulk drains. */
  emergencies?: number;
  extra?: { id: string; payload: string }[];
  resumable?: Destination['resumable'];
}): Promise<LinkRun> {
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-bench-links-'));
  const keys = await linkKeys();
  const delivered = new Map<string, number>();
  const sim = await startSimulator({ port: 0, maxBodyBytes: 64 * 1024 * 1024, openEnvelope: keys.opener, persist: (a) => a.forEach((x) => delivered.set(x.id, Date.now())) });
  const proxy = await startChaosProxy({ targetPort: sim.port, faults: o.faults });
  const db = openDatabase(join(dir, 'darwaza.db'));
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e12, minFreeDiskBytes: 0 });
  const uplink = createUplink();
  const d: Destination = {
    name: 'national-telemed',
    url: `${proxy.url}/fhir`,
    country: 'PK',
    kind: 'treatment',
    format: 'fhir',
    timeoutMs: 120_000,
    concurrency: o.concurrency ?? 4,
    retry: { maxAttempts: 1000, baseDelayMs: 100, maxDelayMs: 1000, maxAgeMs: 3_600_000 },
    ...(o.batch ? { batch: o.batch } : {}),
    ...(o.resumable ? { resumable: o.resumable } : {}),
  };
  const sent = new Map<string, number>();
  let envelopeBytes = 0;
  const enqueue = async (id: string, purpose: string, i: number, text?: string) => {
    const payload = keys.seal(id, text ?? observation(i), { purpose, ...(o.compress ? { compress: o.compress } : {}) });
    envelopeBytes += payload.length;
    await store.accept({
      message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose, format: 'fhir', outcomes: '[]' },
      items: [
        {
          messageId: id,
          destination: d.name,
          lane: purpose === 'ETREAT' ? 'emergency' : 'normal',
          payload,
          contentType: 'application/vnd.darwaza.envelope+json',
          cipherScope: 'd:1',
          patientTokens: ['t'],
          context: JSON.stringify({ purpose }),
        },
      ],
      audit: [],
    });
    sent.set(id, Date.now());
  };
  for (let i = 0; i < o.n; i++) await enqueue(`bulk-${i}`, 'HRESCH', i);
  for (const e of o.extra ?? []) await enqueue(e.id, 'TREAT', 0, e.payload);
  const dispatcher = new Dispatcher({
    store,
    destinations: [d],
    deliver: (dd, item) => uplink.deliver(dd, item.payload, { idempotencyKey: item.messageId, contentType: item.contentType }),
    deliverBatch: (dd, items) => deliverBatch(uplink, dd, items.map((i) => ({ id: i.messageId, payload: i.payload, contentType: i.contentType }))),
    pollMs: 50,
  });
  const started = Date.now();
  dispatcher.start();
  const total = o.n + (o.emergencies ?? 0) + (o.extra?.length ?? 0);
  if (o.emergencies) {
    // Let the bulk saturate the link first, then one emergency message every second.
    await new Promise((r) => setTimeout(r, 2000));
    for (let i = 0; i < o.emergencies; i++) {
      await enqueue(`etreat-${i}`, 'ETREAT', i);
      dispatcher.kick(d.name);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  while (delivered.size < total) {
    await new Promise((r) => setTimeout(r, 50));
    const dead = (await store.counts()).find((c) => c.state === 'dead' && c.count > 0);
    if (dead) throw new Error(`${dead.count} message(s) dead-lettered: ${(await store.list({ state: 'dead' })).map((x) => x.lastError).join('; ')}`);
  }
  const ms = Date.now() - started;
  const r = { bytesUp: proxy.stats.bytesUp, bytesDown: proxy.stats.bytesDown, ms, delivered, sent, resets: proxy.stats.resets, envelopeBytes };
  await dispatcher.stop();
  uplink.close();
  await proxy.stop();
  await sim.stop();
  await store.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return r;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]!;

export async function run(): Promise<Record<string, string | number>> {
  const out: Record<string, string | number> = {};
  const parts = process.env.BENCH_LINKS?.split(',') ?? ['bytes', 'goodput', 'emergency', 'resume'];
  if (parts.includes('bytes')) await bytesOnTheWire(out);
  if (parts.includes('goodput')) await goodputShaped(out);
  if (parts.includes('emergency')) await emergencyLatency(out);
  if (parts.includes('resume')) await resume(out);
  return out;
}

async function bytesOnTheWire(out: Record<string, string | number>) {
  const N = 400;
  const BATCH = { maxItems: 200, maxBytes: 256 * 1024 };
  say('bytes on the wire: one envelope per request (baseline)');
  const base = await runLink({ n: N });
  say('bytes on the wire: batched + gzip');
  const gz = await runLink({ n: N, batch: BATCH, compress: 'gzip' });
  say('bytes on the wire: batched + brotli');
  const br = await runLink({ n: N, batch: BATCH, compress: 'br' });
  const per = (r: LinkRun) => Math.round(r.bytesUp / N);
  out['wire bytes/Observation, one per request (baseline)'] = per(base);
  out['wire bytes/Observation, batched + gzip'] = per(gz);
  out['wire bytes/Observation, batched + brotli'] = per(br);
  out['  ratio gzip / baseline (target ≤ 0.40)'] = (per(gz) / per(base)).toFixed(3);
  out['  ratio brotli / baseline (target ≤ 0.40)'] = (per(br) / per(base)).toFixed(3);
  out['wire bytes/Observation both ways, baseline → gzip'] = `${Math.round((base.bytesUp + base.bytesDown) / N)} → ${Math.round((gz.bytesUp + gz.bytesDown) / N)}`;
}

const shaped: Partial<Faults> = { bandwidthBytesPerSec: RATE, latencyMs: RTT / 2 };

async function goodputShaped(out: Record<string, string | number>) {

  const G = 300;
  say(`goodput: ${G} Observations through 256 kbit/s, ${RTT} ms RTT, one per request (baseline)`);
  const gBase = await runLink({ n: G, faults: shaped });
  say(`goodput: ${G} Observations, batched + gzip`);
  const gBatch = await runLink({ n: G, batch: { maxItems: 100, maxBytes: 48 * 1024 }, compress: 'gzip', faults: shaped });
  const goodput = (r: LinkRun) => r.bytesUp / (r.ms / 1000);
  out['shaped link: Observations/s, one per request (baseline)'] = (G / (gBase.ms / 1000)).toFixed(1);
  out['shaped link: Observations/s, batched + gzip'] = (G / (gBatch.ms / 1000)).toFixed(1);
  out['  ratio batched / baseline'] = (gBase.ms / gBatch.ms).toFixed(2);
  out['shaped link: goodput batched, share of 256 kbit/s (target ≥ 0.80)'] = (goodput(gBatch) / RATE).toFixed(3);
  out['shaped link: goodput one per request, share of 256 kbit/s'] = (goodput(gBase) / RATE).toFixed(3);
}

/** A 20 MB payload over a link that resets every 5 s (capped at 1 MB/s so an upload spans resets). */
async function resume(out: Record<string, string | number>) {
  const payload = JSON.stringify({ resourceType: 'Binary', id: 'scan', data: randomBytes(15 * 1024 * 1024).toString('base64') });
  say(`resume: ${(payload.length / 1e6).toFixed(1)} MB through resets every 5 s`);
  const r = await runLink({ n: 0, extra: [{ id: 'scan-1', payload }], faults: { resetEveryMs: 5000, bandwidthBytesPerSec: 1024 * 1024 }, resumable: { aboveBytes: 1024 * 1024, chunkBytes: 512 * 1024 } });
  out['resume: payload MB'] = (payload.length / 1e6).toFixed(1);
  out['resume: connection resets survived'] = r.resets;
  out['resume: bytes sent / envelope bytes (target ≤ 1.3)'] = (r.bytesUp / r.envelopeBytes).toFixed(3);
  out['resume: seconds'] = (r.ms / 1000).toFixed(1);
}

async function emergencyLatency(out: Record<string, string | number>) {

  say('emergency latency with a saturated bulk backlog on the shaped link');
  const E = 8;
  // Bulk batches of 12 KiB: about 0.4 s of this link, the longest an emergency shares it with one.
  const em = await runLink({ n: 600, batch: { maxItems: 100, maxBytes: 12 * 1024 }, compress: 'gzip', faults: shaped, emergencies: E });
  const lat = [...Array(E).keys()].map((i) => em.delivered.get(`etreat-${i}`)! - em.sent.get(`etreat-${i}`)!);
  const ownSend = Math.round((1400 / RATE) * 1000);
  out['ETREAT latency under bulk load p50 ms'] = pct(lat, 0.5);
  out['ETREAT latency under bulk load max ms'] = Math.max(...lat);
  out[`  target 2 × RTT + own send (≈${ownSend} ms) = ms`] = 2 * RTT + ownSend;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(64)} ${v}`);
}
