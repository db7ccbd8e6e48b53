/**
 * A link under test: SQLite queue → dispatcher → uplink → (chaos proxy) → simulator built on the
 * receiver kit, opening real sealed envelopes. It counts how often the receiver persisted each
 * id, so a test can check "delivered exactly once after de-duplication" from the far end.
 */
import type { Test } from 'tap';
import { join } from 'node:path';
import type { Destination } from '../../src/model/index.js';
import { openDatabase } from '../../src/store/index.js';
import { Dispatcher, SqliteQueueStore, type DispatcherOptions, type Lane } from '../../src/queue/index.js';
import { createUplink, deliverBatch, type UplinkOptions } from '../../src/egress/index.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/index.js';
import type { PayloadEncoding } from '../../src/receiver/index.js';
import { startChaosProxy, type ChaosOptions, type ChaosProxy } from './chaos-proxy.js';
import { linkKeys, observation, type LinkKeys } from './links.js';

export interface RigOptions {
  dest?: Partial<Destination>;
  /** Put the chaos proxy between the gateway and the simulator (default true). */
  proxy?: boolean | Omit<ChaosOptions, 'targetPort'>;
  sim?: SimulatorOptions;
  dispatcher?: Partial<DispatcherOptions>;
  uplink?: UplinkOptions;
  compress?: PayloadEncoding;
  /** The test's directory when it already made one (t.testdir() wipes it when called again). */
  dir?: string;
}

export interface Rig {
  keys: LinkKeys;
  sim: Simulator;
  proxy?: ChaosProxy;
  store: SqliteQueueStore;
  dispatcher: Dispatcher;
  d: Destination;
  /** Times the receiver persisted each id (exactly once is 1). */
  persisted: Map<string, number>;
  /** Queues one message (a ~2 KB Observation, sealed); resolves once it is durable (acknowledged). */
  enqueue(id: string, opts?: { purpose?: string; payload?: string }): Promise<void>;
  acknowledged: string[];
  allDelivered(): Promise<boolean>;
}

export async function until(t: Test, what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) {
      t.fail(`timed out waiting until ${what}`);
      return false;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

export async function startRig(t: Test, o: RigOptions = {}): Promise<Rig> {
  const keys = await linkKeys();
  const persisted = new Map<string, number>();
  const sim = await startSimulator({
    port: 0,
    openEnvelope: keys.opener,
    persist: (accepted) => {
      for (const a of accepted) persisted.set(a.id, (persisted.get(a.id) ?? 0) + 1);
    },
    ...o.sim,
  });
  const proxy = o.proxy === false ? undefined : await startChaosProxy({ targetPort: sim.port, ...(typeof o.proxy === 'object' ? o.proxy : {}) });
  const db = openDatabase(join(o.dir ?? t.testdir(), 'darwaza.db'));
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0, audit: { append: () => {} } });
  const uplink = createUplink(o.uplink);
  const d: Destination = {
    name: 'national-telemed',
    url: `${proxy ? proxy.url : sim.url}/fhir`,
    country: 'PK',
    kind: 'treatment',
    format: 'fhir',
    timeoutMs: 3_000,
    concurrency: 2,
    retry: { maxAttempts: 1_000, baseDelayMs: 20, maxDelayMs: 400, maxAgeMs: 3_600_000 },
    batch: { maxItems: 8, maxBytes: 64 * 1024 },
    ...o.dest,
  };
  const dispatcher = new Dispatcher({
    store,
    destinations: [d],
    deliver: (dd, item) => uplink.deliver(dd, item.payload, { idempotencyKey: item.messageId, contentType: item.contentType }),
    deliverBatch: (dd, items) => deliverBatch(uplink, dd, items.map((i) => ({ id: i.messageId, payload: i.payload, contentType: i.contentType }))),
    pollMs: 25,
    breaker: { failureThreshold: 3, cooldownMs: 200 },
    ...o.dispatcher,
  });
  t.teardown(async () => {
    await dispatcher.stop();
    uplink.close();
    await proxy?.stop();
    await sim.stop();
    await store.close();
    db.close();
  });
  const acknowledged: string[] = [];
  let n = 0;
  return {
    keys,
    sim,
    proxy,
    store,
    dispatcher,
    d,
    persisted,
    acknowledged,
    async enqueue(id, opts = {}) {
      const purpose = opts.purpose ?? 'TREAT';
      const lane: Lane = purpose === 'ETREAT' ? 'emergency' : 'normal';
      await store.accept({
        message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose, format: 'fhir', outcomes: '[]' },
        items: [
          {
            messageId: id,
            destination: d.name,
            lane,
            payload: keys.seal(id, opts.payload ?? observation(n++), { purpose, ...(o.compress ? { compress: o.compress } : {}) }),
            contentType: 'application/vnd.darwaza.envelope+json',
            cipherScope: 'd:1',
            patientTokens: ['tok'],
            context: JSON.stringify({ purpose }),
          },
        ],
        audit: [],
      });
      acknowledged.push(id);
    },
    allDelivered: async () => (await store.counts()).every((c) => c.state === 'delivered'),
  };
}

/** Everything acknowledged reached the receiver, each persisted exactly once. */
export function checkExactlyOnce(t: Test, rig: Rig): void {
  const missing = rig.acknowledged.filter((id) => !rig.persisted.has(id));
  const twice = [...rig.persisted].filter(([, n]) => n !== 1).map(([id]) => id);
  t.same(missing, [], 'every acknowledged message was delivered');
  t.same(twice, [], 'none persisted twice');
  t.equal(rig.sim.state.ids.length, rig.acknowledged.length, 'the receiver holds exactly the acknowledged ids');
}
