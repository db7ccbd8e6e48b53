/**
 * The composition root: opens the store, loads keys, policy and profiles, builds the
 * stages, and starts the listeners (LAN HTTP, MLLP, admin), the dispatcher and the
 * scheduled jobs. Everything that is decided is decided elsewhere; this file wires.
 */
import { serve, type ServerType } from '@hono/node-server';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ConfigError, type GatewayConfig } from '../config/index.js';
import { openDatabase, databaseFile, type Db } from '../store/index.js';
import { createLogger, describeError, type Logger } from '../log/index.js';
import { createMetrics, createAdminApp, type Metrics } from '../admin/index.js';
import { createLanApp } from '../ingress/http/index.js';
import { createPipeline, type Pipeline } from '../pipeline/index.js';
import { SqliteQueueStore, Dispatcher, newMessageId, type QueueStore } from '../queue/index.js';
import { createUplink } from '../egress/index.js';
import { startSimulator } from '../sim/index.js';
import { scheduleRetention } from '../jobs/retention.js';
import { buildStages, type StageRuntime } from './stages.js';

export interface GatewayOptions {
  logger?: Logger;
  /** Run the demo upstream simulator in this process (config.simulator.embedded unless overridden). */
  simulator?: boolean;
  clock?: () => Date;
}

export interface RunningGateway {
  lanPort: number;
  adminPort: number;
  mllpPort: number | null;
  simulatorUrl?: string;
  db: Db;
  store: QueueStore;
  pipeline: Pipeline;
  metrics: Metrics;
  /** Re-reads the policy (SIGHUP). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

const portOf = (server: { address(): AddressInfo | string | null }) => (server.address() as AddressInfo).port;

function listen(app: { fetch: (req: Request, env: unknown) => Response | Promise<Response> }, host: string, port: number, extra: Record<string, unknown> = {}): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch as never, hostname: host, port, ...extra }, () => resolve(server));
    server.once('error', reject);
  });
}

/**
 * The at-rest cipher binds a payload to its day's scope, not to its row: a ciphertext copied or
 * swapped between two rows of the same day decrypts fine. The envelope inside names its message
 * and destination (signed), so such a payload is caught here instead of going out under another
 * message's id (a copy would even make the receiver answer 409 and the other message look delivered).
 */
function notThisRows(payload: Uint8Array, messageId: string, destination: string): string | undefined {
  try {
    const meta = (JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as { meta?: { id?: unknown; destination?: unknown } }).meta;
    if (meta?.id === messageId && meta?.destination === destination) return undefined;
  } catch {
    /* not an envelope at all */
  }
  return 'payload tampered with at rest: the stored envelope belongs to another message or destination';
}

export async function startGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<RunningGateway> {
  // Refuse before anything is opened: plain HTTP only when the config says so explicitly.
  if (!config.lan.tls && !config.lan.allowPlainHttp) {
    throw new ConfigError([
      `${config.file}: lan: the LAN API has no TLS (lan.tls is false) and plain HTTP is not allowed. Set lan.tls to true (after \`darwaza certs init\` and \`darwaza certs issue --server …\`), or set lan.allowPlainHttp to true explicitly for a loopback-only integration engine`,
    ]);
  }
  const logger = opts.logger ?? createLogger();
  const clock = opts.clock ?? (() => new Date());
  const metrics = createMetrics();
  const db = openDatabase(databaseFile(config.dataDir));
  const closers: (() => Promise<void> | void)[] = [];

  // Stages (policy, consent, de-identification, sealing) and the key material they need.
  const runtime: StageRuntime = await buildStages(config, db, { logger, metrics, clock });

  const store = SqliteQueueStore.open(db, {
    quotaBytes: config.limits.queueQuotaBytes,
    cipher: runtime.cipher,
    audit: runtime.audit,
    observer: {
      committed: (n, ms) => {
        metrics.commitBatch.observe(n);
        metrics.commitSeconds.observe(ms / 1000);
      },
      delivered: (d, ms) => metrics.deliveryLatency.observe({ destination: d }, ms / 1000),
      retried: (d) => metrics.retries.inc({ destination: d }),
      deadLettered: (d) => metrics.deadLetters.inc({ destination: d }),
      withdrawn: (d) => metrics.withdrawn.inc({ destination: d }),
    },
  });
  const configured = new Set(config.destinations.map((d) => d.name));
  for (const r of await store.counts()) {
    if (!configured.has(r.destination) && ['queued', 'retrying', 'delivering'].includes(r.state) && r.count > 0) {
      logger.warn({ destination: r.destination, state: r.state, count: r.count }, 'queued messages for a destination that is no longer configured: they wait until it is configured again');
    }
  }
  const recovered = await store.recoverInFlight();
  if (recovered) logger.info({ recovered }, 'returned items left in flight by the last run to the queue');
  runtime.onWithdraw((tokens, purpose) => {
    // Only what the current consents no longer permit: the patient may hold other consents that still
    // allow a queued message (withdrawing a research consent must not destroy treatment data).
    // recheck reads only messageId, destination, patientTokens and context.
    void store
      .withdrawForPatient(tokens, purpose, 'consent withdrawn', (item) => runtime.recheck(item as Parameters<typeof runtime.recheck>[0]).kind === 'ok')
      .then((n) => {
        // The payloads share their day's data key with other patients, so they cannot be crypto-shredded:
        // secure_delete zeroed them in the database pages, and this removes the older copies the WAL still held.
        if (n > 0) {
          try {
            db.pragma('wal_checkpoint(TRUNCATE)');
          } catch (err) {
            logger.warn({ err: describeError(err) }, 'could not truncate the WAL after a withdrawal');
          }
        }
      })
      .catch((err: unknown) => logger.warn({ err: describeError(err) }, 'could not withdraw queued messages after a consent withdrawal'));
  });

  let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;
  if (opts.simulator ?? config.simulator.embedded) {
    simulator = await startSimulator({
      host: config.simulator.listen.host,
      port: config.simulator.listen.port,
      openEnvelope: runtime.simulatorReceiver,
    });
    logger.info({ url: simulator.url }, 'demo upstream simulator listening');
  }

  let dispatcher: Dispatcher | undefined;
  const pipeline = createPipeline({
    config,
    store,
    stages: runtime.stages,
    clock,
    // Time-ordered ids keep the message index append-only, so enqueue cost does not grow with the backlog.
    newId: newMessageId,
    onQueued: (names) => {
      for (const n of new Set(names)) dispatcher?.kick(n);
    },
    observer: { decided: (d, decision) => metrics.decisions.inc({ destination: d, decision }) },
  });

  const uplink = createUplink({ checkServerIdentity: runtime.checkServerIdentity });
  dispatcher = new Dispatcher({
    store,
    destinations: config.destinations,
    deliver: (d, item) => {
      const wrong = notThisRows(item.payload, item.messageId, d.name);
      if (wrong) return Promise.resolve({ kind: 'dead', status: 0, error: wrong });
      return uplink.deliver(d, item.payload, { idempotencyKey: item.messageId, contentType: item.contentType });
    },
    recheck: runtime.recheck,
    pollMs: config.dispatcher.pollMs,
    breaker: { failureThreshold: config.dispatcher.breakerFailures, cooldownMs: config.dispatcher.breakerCooldownMs },
    onError: (err, destination) => logger.error({ err: describeError(err), destination }, 'dispatcher error'),
  });
  dispatcher.start();

  // LAN HTTP API.
  const lanApp = createLanApp({
    pipeline,
    messages: store,
    destinationNames: config.destinations.map((d) => d.name),
    defaultPurpose: config.defaultPurpose,
    maxBodyBytes: config.limits.maxBodyBytes,
    shape: { maxDepth: config.limits.maxDepth, maxEntries: config.limits.maxEntries },
    consent: runtime.consentRoutes,
    sourceOf: (c) => {
      const socket = (c.env as { incoming?: { socket?: TLSSocket } })?.incoming?.socket;
      const cn = socket && 'getPeerCertificate' in socket ? runtime.clientName(socket) : undefined;
      return cn ?? c.req.header('x-source-system')?.slice(0, 64) ?? 'lan';
    },
    observer: {
      error: (err, errorId) => logger.error({ err: describeError(err), errorId }, 'request failed'),
    },
  });
  const serverOptions = {
    requestTimeout: config.limits.requestTimeoutMs,
    headersTimeout: config.limits.headersTimeoutMs,
    keepAliveTimeout: 5000,
    // How often Node enforces headersTimeout/requestTimeout (its default, 30 s, lets slow clients linger).
    connectionsCheckingInterval: 1000,
    ...(config.lan.tls ? runtime.lanTlsOptions() : {}),
  };
  if (!config.lan.tls) {
    logger.warn(
      { listen: `${config.listen.lan.host}:${config.listen.lan.port}` },
      'WARNING: the LAN API is plain HTTP without client certificates (lan.allowPlainHttp). Use it only on loopback or behind an integration engine.',
    );
  }
  const lanServer = await listen(lanApp, config.listen.lan.host, config.listen.lan.port, {
    serverOptions,
    ...(config.lan.tls ? { createServer: createHttpsServer } : {}),
  });
  (lanServer as { maxConnections?: number }).maxConnections = config.limits.maxConnections;
  const tlsReloads: (() => boolean)[] = [];
  if (config.lan.tls) {
    const tlsWatch = runtime.watchLanTls(lanServer as never);
    tlsReloads.push(() => tlsWatch.check());
    closers.push(() => tlsWatch.stop());
  }
  closers.push(() => new Promise<void>((r) => lanServer.close(() => r())));

  // HL7 v2 over MLLP.
  let mllpPort: number | null = null;
  if (config.listen.mllp) {
    const mllp = await runtime.startMllp(pipeline, store);
    mllpPort = mllp.port;
    if (mllp.reloadTls) tlsReloads.push(mllp.reloadTls);
    closers.push(() => mllp.close());
  }

  // Admin API.
  const adminApp = createAdminApp({
    metrics,
    beforeScrape: async () => {
      metrics.queueDepth.reset();
      for (const r of await store.counts()) metrics.queueDepth.set({ destination: r.destination, state: r.state }, r.count);
      runtime.refreshGauges();
    },
    ready: () => {
      const reasons: string[] = [];
      // Ready = a request of the largest allowed size would still fit under the quota.
      if (store.atQuota() || store.heldPayloadBytes() + config.limits.maxBodyBytes > config.limits.queueQuotaBytes) {
        reasons.push('the queue is at (or within one maximum-size request of) its disk quota');
      }
      if (!db.open) reasons.push('the store is closed');
      return { ok: reasons.length === 0, reasons };
    },
    status: async () => ({ policy: runtime.policyRef(), queue: await store.counts(), destinations: config.destinations.map((d) => d.name) }),
    explain: (id) => runtime.explainMessage(id, store),
  });
  const adminServer = await listen(adminApp, config.listen.admin.host, config.listen.admin.port);
  closers.push(() => new Promise<void>((r) => adminServer.close(() => r())));

  const retention = scheduleRetention({ store, retentionMs: config.limits.retentionDays * 86_400_000 });
  closers.push(() => retention.stop());

  logger.info(
    {
      lan: `${config.listen.lan.host}:${portOf(lanServer)}`,
      admin: `${config.listen.admin.host}:${portOf(adminServer)}`,
      mllp: mllpPort,
      policy: runtime.policyRef(),
      destinations: config.destinations.map((d) => d.name),
    },
    'darwaza started',
  );

  let stopped = false;
  return {
    lanPort: portOf(lanServer),
    adminPort: portOf(adminServer),
    mllpPort,
    simulatorUrl: simulator?.url,
    db,
    store,
    pipeline,
    metrics,
    reload: () => {
      // SIGHUP: a revocation or renewed certificate reaches the TLS listeners now, not at the next minute's check.
      for (const check of tlsReloads) {
        try {
          check();
        } catch (err) {
          logger.error({ err: describeError(err) }, 'could not reload LAN TLS material; keeping the current one');
        }
      }
      return runtime.reload();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // Listeners first (no new work), then deliveries, then the store.
      for (const close of closers.slice().reverse()) {
        try {
          await close();
        } catch (err) {
          logger.warn({ err: describeError(err) }, 'error while stopping');
        }
      }
      await dispatcher!.stop();
      await uplink.close();
      await simulator?.stop();
      store.flush();
      runtime.beforeClose();
      await runtime.close();
      await store.close();
      db.close();
      logger.info('darwaza stopped');
      logger.flush?.();
    },
  };
}
