/**
 * The composition root: provisions the policy, profiles, keys and stages (provision.ts),
 * opens the queue, and starts the listeners (LAN HTTP, MLLP, admin), the dispatcher and
 * the runtime's jobs and watchers (runtime.ts). What is decided is decided elsewhere.
 */
import { serve, type ServerType } from '@hono/node-server';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, type GatewayConfig } from '../config/index.js';
import { openDatabase, databaseFile, upgradeOf, type Db } from '../store/index.js';
import { createLogger, describeError, type Logger } from '../log/index.js';
import { createMetrics, createAdminApp, type Metrics } from '../admin/index.js';
import { createLanApp } from '../ingress/http/index.js';
import { darwazaVersion } from '../embedded/index.js';
import { startPool } from './pool.js';
import { startMllpServer, createMllpAccept } from '../ingress/mllp/index.js';
import { createPipeline, createRecheck, createConsentPrefetch, explainMessage, type Pipeline } from '../pipeline/index.js';
import { Dispatcher, newMessageId, type QueueObserver, type QueueStore } from '../queue/index.js';
import { createUplink, deliverBatch, createLinkHealth, linkStatus } from '../egress/index.js';
import { startSimulator } from '../sim/index.js';
import { consentHandlers } from '../consent/index.js';
import { createReceiver } from '../crypto/index.js';
import { lanTlsOptions, checkSpkiPin } from '../pki/index.js';
import { EMBEDDED_SIMULATOR_KEY } from '../policy/index.js';
import { scheduleTreeBuild } from '../audit/index.js';
import { loadPolicyAndProfiles } from './provision.js';
import { startRuntime } from './runtime.js';
import { mllpAccess } from './mllp-access.js';
import { checkAccessAtStart, createGatewayAuth } from './access.js';
import { openState } from './state.js';
import { createConsoleApp, consoleDeps, sqliteConsoleAudit, postgresConsoleAudit } from '../console/index.js';
import { refreshOpsGauges, scheduleAuditVerify } from '../ops/index.js';
import { deadLettersExpiring } from '../jobs/retention.js';

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

export { loadPolicyAndProfiles, provision, type PolicyAndProfiles, type Provisioned } from './provision.js';

export async function startGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<RunningGateway> {
  // Refuse before anything is opened: plain HTTP only when the config says so explicitly.
  if (!config.lan.tls && !config.lan.allowPlainHttp) {
    throw new ConfigError([
      `${config.file}: lan: the LAN API has no TLS (lan.tls is false) and plain HTTP is not allowed. Set lan.tls to true (after \`darwaza certs init\` and \`darwaza certs issue --server …\`), or set lan.allowPlainHttp to true explicitly for a loopback-only integration engine`,
    ]);
  }
  const accessWarnings = checkAccessAtStart(config);
  const logger = opts.logger ?? createLogger();
  for (const w of accessWarnings) logger.warn(`WARNING: ${w}`);
  const clock = opts.clock ?? (() => new Date());
  const metrics = createMetrics();

  // The policy pack first: a config that widens it, or a policy naming a profile it lacks, refuses the start before the store is opened.
  const loaded = await loadPolicyAndProfiles(config, clock);
  // From here on every destination fact (country, kind, consent model, recipient key, pins) is the pack's.
  config = loaded.config;
  const db = openDatabase(databaseFile(config.dataDir));
  const upgrade = upgradeOf(db);
  if (upgrade?.backup) logger.warn(upgrade, 'database schema upgraded; the copy made before the upgrade can be removed once this version runs well');
  const closers: (() => Promise<void> | void)[] = [];
  const observer: QueueObserver = {
    committed: (n, ms) => {
      metrics.commitBatch.observe(n);
      metrics.commitSeconds.observe(ms / 1000);
    },
    delivered: (d, ms) => metrics.deliveryLatency.observe({ destination: d }, ms / 1000),
    retried: (d) => metrics.retries.inc({ destination: d }),
    deadLettered: (d) => metrics.deadLetters.inc({ destination: d }),
    withdrawn: (d) => metrics.withdrawn.inc({ destination: d }),
  };
  const state = await openState(config, db, loaded, { logger, metrics, clock, observer });
  const { keys, audit, consents, policy, pack, stages, store, shared, sqlite } = state;

  const configured = new Set(config.destinations.map((d) => d.name));
  for (const r of await store.counts()) {
    if (!configured.has(r.destination) && ['queued', 'retrying', 'delivering'].includes(r.state) && r.count > 0) {
      logger.warn({ destination: r.destination, state: r.state, count: r.count }, 'queued messages for a destination that is no longer configured: they wait until it is configured again');
    }
  }
  const recovered = await store.recoverInFlight();
  if (recovered) logger.info({ recovered }, 'returned items left in flight by the last run to the queue');

  const runtime = startRuntime({
    config,
    logger,
    metrics,
    clock,
    audit,
    ...(sqlite ? { log: sqlite.audit, db } : { isLeader: () => shared!.leader.isLeader() }),
    keys,
    store,
    policy,
    pack,
  });
  // The audit's Merkle tree is built behind the appends, off the acknowledgement path (on a pair, by the tree-head leader).
  const treeBuild = sqlite ? scheduleTreeBuild(sqlite.audit, { onError: (err) => logger.warn({ err: describeError(err) }, 'could not build the audit tree (retried at the next tick)') }) : undefined;
  // On PostgreSQL the re-check's consents are read for the rows each claim returns, just before they are judged.
  const prefetch = shared ? createConsentPrefetch(shared.consents) : undefined;
  const recheck = createRecheck({ stages, destinations: config.destinations, timezone: config.timezone, clock, ...(prefetch ? { consentsOf: prefetch.consentsOf } : {}) });

  // A withdrawal stops queued data for the purposes it covered (null = every purpose), but only what
  // the current consents no longer permit: the patient may hold other consents that still allow a
  // queued message (withdrawing a research consent must not destroy treatment data).
  const stillPermitted = (item: Parameters<typeof recheck>[0]): boolean | Promise<boolean> => {
    const judge = () => {
      try {
        return recheck(item).kind === 'ok';
      } catch {
        return false; // a context this gateway cannot read cannot be shown to be still permitted
      }
    };
    return prefetch ? prefetch.prepare([item]).then(judge, () => false) : judge();
  };
  consents.onWithdraw((tokens, _id, info) => {
    for (const purpose of info.purposes === null ? [undefined] : info.purposes) {
      void store
        .withdrawForPatient(tokens, purpose, 'consent withdrawn', stillPermitted)
        .then((n) => {
          // The payloads share their day's data key with other patients, so they cannot be crypto-shredded:
          // secure_delete zeroed them in the database pages, and this removes the older copies the WAL still held.
          if (n > 0 && sqlite) {
            try {
              db.pragma('wal_checkpoint(TRUNCATE)');
            } catch (err) {
              logger.warn({ err: describeError(err) }, 'could not truncate the WAL after a withdrawal');
            }
          }
        })
        .catch((err: unknown) => logger.warn({ err: describeError(err) }, 'could not withdraw queued messages after a consent withdrawal'));
    }
  });

  let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;
  // The demo simulator opens envelopes like a real national service would. Its recipient keys are made
  // (where missing) whether or not it runs here: a simulator in another process reads the same files.
  // Only destinations the pack seals to the embedded simulator get one.
  const receiver = await createReceiver({
    recipientKeys: pack.destinations.filter((d) => d.recipientKeyFingerprint === EMBEDDED_SIMULATOR_KEY).map((d) => keys.demoRecipient(d.name)),
    trustedGatewayKeys: () => keys.trustedGatewayKeys(),
  });
  if (opts.simulator ?? config.simulator.embedded) {
    simulator = await startSimulator({
      host: config.simulator.listen.host,
      port: config.simulator.listen.port,
      openEnvelope: (body) => {
        const r = receiver.open(body);
        return r.ok ? { ok: true } : { ok: false, status: r.status, reason: r.reason };
      },
    });
    logger.info({ url: simulator.url }, 'demo upstream simulator listening');
  }

  let dispatcher: Dispatcher | undefined;
  const pipeline = createPipeline({
    config,
    store,
    stages,
    clock,
    // Time-ordered ids keep the message index append-only, so enqueue cost does not grow with the backlog.
    newId: newMessageId,
    onQueued: (names) => {
      for (const n of new Set(names)) dispatcher?.kick(n);
    },
    observer: { decided: (d, decision) => metrics.decisions.inc({ destination: d, decision }) },
  });

  const linkHealth = createLinkHealth({ clock: () => clock().getTime() });
  const uplink = createUplink({ checkServerIdentity: (d, _host, cert) => checkSpkiPin(d, cert), observer: linkHealth.exchange });
  dispatcher = new Dispatcher({
    store,
    destinations: config.destinations,
    // Each payload is bound at rest to its (message id, destination): one moved between rows never reaches here.
    deliver: (d, item) => uplink.deliver(d, item.payload, { idempotencyKey: item.messageId, contentType: item.contentType }),
    // Destinations with `batch` take many envelopes per request (docs/links.md).
    deliverBatch: (d, items) => deliverBatch(uplink, d, items.map((i) => ({ id: i.messageId, payload: i.payload, contentType: i.contentType }))),
    timeZone: config.timezone,
    onOutcome: linkHealth.outcome,
    recheck,
    ...(prefetch ? { prepareRecheck: prefetch.prepare } : {}),
    pollMs: config.dispatcher.pollMs,
    breaker: { failureThreshold: config.dispatcher.breakerFailures, cooldownMs: config.dispatcher.breakerCooldownMs },
    onError: (err, destination) => logger.error({ err: describeError(err), destination }, 'dispatcher error'),
  });
  dispatcher.start();

  // LAN HTTP API.
  const auth = createGatewayAuth(config, db, audit, logger, clock);
  const handlers = consentHandlers(consents);
  // The body's checks (JSON, shape, R4 structure: the largest CPU cost) run in the worker pool;
  // this thread keeps the decisions and the one SQLite writer.
  const pool = startPool(metrics, logger);
  closers.push(() => pool.close());
  const lanApp = createLanApp({
    pipeline,
    checkInbound: (bytes, type, shape) => pool.checkInbound(bytes, type, shape),
    messages: store,
    destinationNames: config.destinations.map((d) => d.name),
    defaultPurpose: config.defaultPurpose,
    maxBodyBytes: config.limits.maxBodyBytes,
    shape: { maxDepth: config.limits.maxDepth, maxEntries: config.limits.maxEntries },
    auth: auth.lan,
    onBreakGlass: auth.breakGlass,
    capability: { version: darwazaVersion(), date: clock().toISOString(), certificates: config.lan.tls, bearerTokens: true },
    clock,
    consent: {
      post: (body, actor, source) => handlers.post(body, actor, source),
      put: (id, body, actor, source) => handlers.put(id, body, actor, source),
      delete: (id, actor) => handlers.delete(id, actor),
      search: (q, source) => handlers.search(q, source),
      read: (id, version) => handlers.read(id, version),
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
    ...(config.lan.tls ? { ...lanTlsOptions(config.certsDir) } : {}),
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
  if (config.lan.tls) runtime.watchTls(lanServer as never, 'LAN');
  if (config.lan.tls) runtime.auditHandshakes(lanServer, 'https');
  closers.push(() => new Promise<void>((r) => lanServer.close(() => r())));

  // HL7 v2 over MLLP.
  let mllpPort: number | null = null;
  if (config.listen.mllp) {
    const access = mllpAccess({ config, logger, audit, runtime, clock });
    const mllp = await startMllpServer({
      identify: access.identify,
      breakGlass: access.breakGlass,
      host: config.listen.mllp.host,
      port: config.listen.mllp.port,
      maxFrameBytes: config.limits.mllpMaxFrameBytes,
      idleTimeoutMs: config.limits.mllpIdleTimeoutMs,
      ...(config.lan.tls ? { tls: lanTlsOptions(config.certsDir) } : {}),
      isOpaqueRouted: (messageType) => config.routes.some((r) => r.opaque && (r.match.messageType ?? []).includes(messageType)),
      maxConnections: config.limits.mllpMaxConnections,
      maxPendingBytesPerConnection: config.limits.mllpMaxPendingBytesPerConnection,
      maxPendingBytes: config.limits.mllpMaxPendingBytes,
      // v2 times without an offset are local times of the appliance's zone.
      map: { defaultTimezone: config.timezone },
      observer: (e) => {
        if (access.observe(e)) return;
        if (e.kind === 'ack') for (const code of e.codes) metrics.mllpMessages.inc({ ack: code });
        else if (e.kind === 'internal-error') logger.error({ reason: e.reason }, 'MLLP: a message could not be stored; the sender was told to resend');
        else if (e.kind === 'garbage' || e.kind === 'oversize') logger.warn({ kind: e.kind, bytes: e.bytes }, 'MLLP: discarded bytes that were not a frame');
      },
      accept: createMllpAccept({
        pipeline,
        messages: store,
        defaultPurpose: config.defaultPurpose,
        onError: (err, messageType) => logger.error({ err: describeError(err), messageType }, 'MLLP: storing a message failed; the sender gets AE and resends'),
      }),
    });
    mllpPort = mllp.port;
    // Like the HTTPS listener, the MLLP one follows revocations and renewed certificates.
    if (mllp.setSecureContext) runtime.watchTls({ setSecureContext: mllp.setSecureContext }, 'MLLP');
    closers.push(() => mllp.close());
  }

  const links = async () =>
    linkStatus(
      config.destinations.map((d) => d.name),
      linkHealth,
      { breaker: (n) => dispatcher?.breakerState(n), counts: await store.counts(), oldest: (await store.oldestWaiting?.()) ?? [] },
      clock().getTime(),
    );

  // Admin API, and the operator's console on the same listener.
  const explain = async (id: string) => {
    const m = await store.getMessage(id);
    return m ? explainMessage(m, policy.current(), config.destinations) : undefined;
  };
  // The console, over this appliance's log or the log the pair shares.
  const consoleApp = createConsoleApp(
    consoleDeps({
      auth: auth.admin,
      tokens: auth.tokens,
      store,
      dispatch: () => dispatcher?.states() ?? [],
      audit: sqlite ? sqliteConsoleAudit(db, sqlite.audit, keys.tokenizer(), clock) : postgresConsoleAudit(shared!.log, keys.tokenizer(), clock),
      auditSink: audit,
      consents,
      tokenize: keys.tokenizer(),
      policy: () => policy.current(),
      policyDir: config.policy.path,
      explain,
      destinations: () => config.destinations.map((d) => d.name),
      certsDir: config.certsDir,
      quotaBytes: config.limits.queueQuotaBytes,
      clock,
    }),
  );
  const adminApp = createAdminApp({
    auth: auth.admin,
    console: consoleApp.app,
    metrics,
    beforeScrape: async () => {
      metrics.queueDepth.reset();
      for (const r of await store.counts()) metrics.queueDepth.set({ destination: r.destination, state: r.state }, r.count);
      for (const l of await links()) {
        const d = { destination: l.destination };
        if (l.rttMs !== null) metrics.linkRtt.set(d, l.rttMs / 1000);
        metrics.linkGoodput.set(d, l.goodputBytesPerSec);
        if (l.retryRate !== null) metrics.linkRetryRate.set(d, l.retryRate);
        // Breaker state and the oldest waiting age are the operations gauges below (one family each).
        metrics.linkWaitingBytes.set(d, l.bytesWaiting);
      }
      runtime.refreshGauges();
      await refreshOpsGauges({
        metrics,
        store,
        destinations: config.destinations.map((d) => d.name),
        breakerState: (d) => dispatcher?.breakerState(d),
        dataDir: config.dataDir,
        quotaBytes: config.limits.queueQuotaBytes,
        clock: () => clock(),
        deadLetters: { deadLetterMs: config.limits.deadLetterRetentionDays * 86_400_000, warnMs: config.limits.deadLetterWarningDays * 86_400_000 },
      });
    },
    ready: () => {
      const reasons: string[] = [];
      // Ready = a request of the largest allowed size would still fit under the quota.
      if (store.atQuota() || store.heldPayloadBytes() + config.limits.maxBodyBytes > config.limits.queueQuotaBytes) {
        reasons.push('the queue is at (or within one maximum-size request of) its disk quota');
      }
      if (!db.open) reasons.push('the store is closed');
      if (shared && !shared.store.reachable()) reasons.push('the shared database (PostgreSQL) cannot be reached');
      return { ok: reasons.length === 0, reasons };
    },
    status: async () => ({
      policy: policy.current().ref,
      queue: await store.counts(),
      destinations: config.destinations.map((d) => d.name),
      links: await links(),
      // Dead letters retention removes within the warning window: a person should look before then.
      deadLettersExpiring: await deadLettersExpiring(store, {
        deadLetterMs: config.limits.deadLetterRetentionDays * 86_400_000,
        warnMs: config.limits.deadLetterWarningDays * 86_400_000,
        now: clock().getTime(),
        destinations: config.destinations.map((d) => d.name),
      }),
    }),
    explain,
    onServerError: (err, errorId) => logger.error({ err: describeError(err), errorId }, 'admin request failed'),
  });
  const adminServer = await listen(adminApp, config.listen.admin.host, config.listen.admin.port);
  await metrics.resetStartLag();
  // The audit log verified in a child process on a schedule; failures and the last success are metrics.
  // On a pair, the leader verifies the shared log the config file names.
  const auditWatch = scheduleAuditVerify({
    metrics,
    dataDir: config.dataDir,
    certsDir: config.certsDir,
    ...(shared ? { sharedConfigFile: config.file, when: () => shared.leader.isLeader() } : {}),
    onResult: (r) => (r.ok ? logger.info({ entries: r.size }, 'audit log verified') : logger.error({ reason: r.reason }, 'audit log verification FAILED')),
  });
  closers.push(() => auditWatch.stop());
  closers.push(() => new Promise<void>((r) => adminServer.close(() => r())));
  // Closed before the listener (closers run in reverse): live streams would hold it open.
  closers.push(() => consoleApp.close());

  logger.info(
    {
      lan: `${config.listen.lan.host}:${portOf(lanServer)}`,
      admin: `${config.listen.admin.host}:${portOf(adminServer)}`,
      mllp: mllpPort,
      policy: policy.current().ref,
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
    reload: () => runtime.reload(),
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
      await state.flush();
      treeBuild?.stop();
      runtime.beforeClose();
      await runtime.close();
      await state.close();
      db.close();
      logger.info('darwaza stopped');
      logger.flush?.();
    },
  };
}
