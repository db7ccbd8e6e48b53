/**
 * Builds the pipeline's stages from the folders that make each decision:
 * classify → policy → consent → sanitize → seal, plus the at-rest cipher, the audit
 * log, the consent registry and the MLLP listener. Only wiring lives here.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, basename } from 'node:path';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { GatewayConfig, DestinationConfig } from '../config/index.js';
import { migrate, type Db } from '../store/index.js';
import { createHash } from 'node:crypto';
import type { Logger } from '../log/index.js';
import { describeError } from '../log/index.js';
import type { Metrics } from '../admin/index.js';
import type { Classification, Coding, Destination, DestinationOutcome, FhirResource, PayloadCipher, PolicyRef, PurposeOfUse } from '../model/index.js';
import { SYSTEMS } from '../model/index.js';
import type { Stages, Pipeline, ItemContext, DecisionFacts } from '../pipeline/index.js';
import type { ConsentRoutes } from '../ingress/http/index.js';
import type { ClaimedItem, QueueStore, RecheckResult } from '../queue/index.js';
import { classify, classifyEntries, applyLabels } from '../classify/index.js';
import { decide, explain, loadPolicy, watchPolicy, type CompiledPolicy, type PolicyWatcher } from '../policy/index.js';
import { ConsentRegistry, consentHandlers, requestFromContext, consentContext, defaultForModel, tokensForIds, dataPeriodOf } from '../consent/index.js';
import { parseProfileText, compileProfile, type CompiledProfile } from '../sanitize/index.js';
import {
  getSodium,
  loadOrCreateKeyStore,
  openAtRestCipher,
  kekSourceFromConfig,
  sealAndSerialize,
  resolveRecipient,
  createReceiver,
  type KeyStore,
} from '../crypto/index.js';
import { AuditLog, auditEvents, startAtnaFeed } from '../audit/index.js';
import { scheduleTreeHeads } from '../jobs/tree-heads.js';
import { scheduleKeyRotation } from '../crypto/index.js';
import { lanTlsOptions, clientName, spkiSha256, certificateStatus, watchLanTls } from '../pki/index.js';
import { startMllpServer } from '../ingress/mllp/index.js';
import { sanitizeV2 } from '../hl7v2/index.js';
import { OperationOutcomeError, unprocessable } from '../fhir/index.js';

export interface StageRuntime {
  stages: Stages;
  cipher: PayloadCipher;
  audit: AuditLog;
  keys: KeyStore;
  consents: ConsentRegistry;
  onWithdraw(cb: (tokens: string[], purpose?: string) => void): void;
  simulatorReceiver: (body: Buffer) => { ok: true } | { ok: false; status: number; reason: string };
  /** SPKI pinning for https destinations (egress calls it after the host-name check). */
  checkServerIdentity: (d: Destination, hostname: string, cert: import('node:tls').PeerCertificate) => Error | undefined;
  recheck: (item: ClaimedItem) => RecheckResult;
  consentRoutes: ConsentRoutes;
  clientName: (socket: TLSSocket) => string | undefined;
  lanTlsOptions: () => Record<string, unknown>;
  /** Reloads a TLS listener's certificates and CRL when they change (revocations reach it). */
  watchLanTls: (server: { setSecureContext(o: never): void }) => { check(): boolean; stop(): void };
  startMllp(pipeline: Pipeline, store: QueueStore): Promise<{ port: number; close(): Promise<void>; reloadTls?(): boolean }>;
  refreshGauges(): void;
  policyRef(): PolicyRef;
  explainMessage(id: string, store: QueueStore): Promise<unknown>;
  reload(): Promise<void>;
  beforeClose(): void;
  close(): Promise<void>;
}

export async function buildStages(
  config: GatewayConfig,
  db: Db,
  deps: { logger: Logger; metrics: Metrics; clock: () => Date },
): Promise<StageRuntime> {
  const { logger, metrics, clock } = deps;
  await getSodium();
  const keys = await loadOrCreateKeyStore(config.certsDir);
  const tokenize = keys.tokenizer();
  const cipher = await openAtRestCipher(db, { kek: kekSourceFromConfig(config.keys.kek, { certsDir: config.certsDir }), clock });
  // Tree heads are signed by whichever gateway key is active now, so a rotation reaches them at once.
  const activeSigner = {
    get keyId() {
      return keys.signer().keyId;
    },
    get publicKey() {
      return keys.signer().publicKey;
    },
    sign: (bytes: Uint8Array) => keys.signer().sign(bytes),
  };
  const audit = AuditLog.open(db, { signer: activeSigner, clock });
  // Every stored Consent version is audited in the same transaction as its write.
  const consents = ConsentRegistry.open(db, { tokenize, cipher, clock, timezone: config.timezone, audit });
  const byName = new Map<string, DestinationConfig>(config.destinations.map((d) => [d.name, d]));

  // Policy: loaded once, hot-reloaded atomically; a bad new file keeps the last good one.
  const policyOpts = { trustedSigners: config.policy.trustedSigners, requireSigned: config.policy.requireSigned };
  let policy: CompiledPolicy = await loadPolicy(config.policy.path, policyOpts);
  const policyChanged = (p: CompiledPolicy, why: string) => {
    const previous = policy.ref.sha256;
    policy = p;
    metrics.policyInfo.reset();
    metrics.policyInfo.set({ policy: p.ref.id, version: p.ref.version, sha256: p.ref.sha256 }, 1);
    audit.append([auditEvents.policyActivated({ time: clock(), policySha256: p.ref.sha256, reason: `${why}; previous ${previous.slice(0, 16)}`, actor: 'gateway' })]);
    logger.info({ policy: p.ref }, 'policy activated');
  };
  metrics.policyInfo.set({ policy: policy.ref.id, version: policy.ref.version, sha256: policy.ref.sha256 }, 1);
  audit.append([auditEvents.policyActivated({ time: clock(), policySha256: policy.ref.sha256, reason: 'loaded at start', actor: 'gateway' })]);
  recordConfig(db, audit, config, clock);
  const watcher: PolicyWatcher = watchPolicy(config.policy.path, { ...policyOpts, initial: policy, sighup: false }, (next) => {
    if (next instanceof Error) logger.error({ err: describeError(next) }, 'policy change refused; keeping the last good policy');
    else policyChanged(next, 'file changed');
  });

  // De-identification profiles, compiled per destination with that destination's keys.
  const profileSources = readProfileSources(config.policy.profilesDir);
  const compiled = new Map<string, CompiledProfile>();
  const profileFor = (name: string, destination: Destination): CompiledProfile => {
    const key = `${name}\u0000${destination.name}`;
    let p = compiled.get(key);
    if (!p) {
      const source = profileSources.get(name);
      if (!source) throw new OperationOutcomeError(unprocessable(`the policy names de-identification profile "${name}", which is not in ${config.policy.profilesDir}`));
      p = compileProfile(source, { name, keys: keys.deidKeys(destination.name), now: clock });
      compiled.set(key, p);
    }
    return p;
  };

  /**
   * The destination's recipient key: configured, or the demo key made by init. Resolved once
   * per destination (it reads key files); a destination without either fails closed at seal time.
   */
  const recipients = new Map<string, ReturnType<typeof resolveRecipient> | undefined>();
  const recipientOf = (d: Destination) => {
    if (!recipients.has(d.name)) {
      let r: ReturnType<typeof resolveRecipient> | undefined;
      try {
        const demo = existsSync(join(config.certsDir, `recipient-${d.name}.pub`));
        r = resolveRecipient(d, demo ? keys : undefined);
      } catch (err) {
        logger.error({ err: describeError(err), destination: d.name }, 'no usable recipient key: sealed data for this destination is refused');
      }
      recipients.set(d.name, r);
    }
    return recipients.get(d.name);
  };

  const stages: Stages = {
    classify: (resource, now) => classify(resource, { now }),
    classifyEntries: (bundle, now) => classifyEntries(bundle, { now }).map((e) => e.classification),
    applyLabels,
    decide: (input) => decide(policy, { ...input, destination: input.destination }),
    checkConsent: (input) =>
      consents.evaluate(input.patientTokens, {
        actor: input.actor,
        purpose: input.purpose,
        categories: input.categories,
        labels: input.labels,
        resourceTypes: input.resourceTypes,
        ageYears: input.ageYears,
        now: input.now,
        defaultWhenNone: input.defaultWhenNone,
        timezone: config.timezone,
        ...(input.dataPeriod ? { dataPeriod: input.dataPeriod } : {}),
      }),
    sanitize: (profile, destination, resource) => {
      const r = profileFor(profile, destination).apply(resource);
      // A profile that hit a processing error and emptied the content ('skip') must not send the husk.
      if (r.skipped) throw new OperationOutcomeError(unprocessable(`de-identification with ${profile} could not process this content`));
      // The policy judged this data in its de-identified form (confidentiality L + ANONYED); the
      // labels on the wire must say so too, not the N/R that classify gave the identifiable input.
      let out = r.resource;
      // A single resource cannot carry its Provenance: send both in a collection Bundle, so what
      // arrives always says it was derived by de-identification, and with which profile (by hash).
      if (r.provenance && out.resourceType !== 'Bundle') {
        out = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: out }, { resource: r.provenance }] };
      }
      return policy.sanitizeProfiles[profile]?.deidentifies ? labelDeidentified(out) : out;
    },
    sanitizeV2: (text, destination) => sanitizeV2(text, { pseudonymize: (id: string) => tokenize(`${destination.name}|${id}`).slice(0, 16) }),
    seal: (input) => {
      const recipient = recipientOf(input.destination);
      const mustSeal = input.sealRequired;
      if (mustSeal && !recipient) {
        throw new OperationOutcomeError(unprocessable(`destination ${input.destination.name} has no recipient key, and sealing is required`));
      }
      const { body } = sealAndSerialize({
        meta: {
          id: input.messageId,
          source: config.organization,
          destination: input.destination.name,
          purpose: input.purpose,
          policySha256: input.policySha256,
          created: input.createdAt,
          contentType: input.payloadType,
        },
        payload: input.payload,
        recipient,
        signer: keys.signer(),
        seal: mustSeal,
      });
      return { body: Buffer.from(body, 'utf8'), contentType: 'application/vnd.darwaza.envelope+json' };
    },
    tokenize,
    patientTokens: (ids) => tokensForIds(ids, tokenize),
    dataPeriod: (resource) => dataPeriodOf(resource, config.timezone),
  };

  // The demo simulator opens envelopes like a real national service would.
  const demoRecipients = config.destinations.filter((d) => !d.recipientPublicKey).map((d) => keys.demoRecipient(d.name));
  const receiver = await createReceiver({ recipientKeys: demoRecipients, trustedGatewayKeys: () => keys.trustedGatewayKeys() });

  /** Send-time re-check: the current policy and the current consents, from the stored context. */
  const recheck = (item: ClaimedItem): RecheckResult => {
    const ctx = JSON.parse(item.context) as ItemContext;
    const destination = byName.get(item.destination);
    const now = clock();
    const classification: Classification = { ...ctx.classification, patient: null };
    const d = decide(policy, { destinationName: item.destination, destination, purpose: ctx.purpose, classification, source: ctx.source, now });
    const base = { time: now, messageId: item.messageId, destination: item.destination, purpose: ctx.purpose, patientToken: item.patientTokens[0] };
    if (d.effect === 'deny') {
      const reason = `the policy in force (${d.policy.sha256.slice(0, 12)}) now denies: ${d.reasons.map((r) => r.text).join('; ')}`.slice(0, 300);
      return { kind: 'withdraw', reason, audit: [auditEvents.purged({ ...base, policySha256: d.policy.sha256, ruleIds: d.ruleIds, reason })] };
    }
    if (ctx.consentRequired && destination) {
      const req = requestFromContext(
        consentContext(classification, destination, ctx.purpose, ctx.dataPeriod ? { dataPeriod: ctx.dataPeriod } : {}),
        now,
        defaultForModel(destination.consentModel),
        { timezone: config.timezone },
      );
      const c = consents.evaluate(item.patientTokens, req);
      if (c.effect === 'deny') {
        const reason = `consent no longer permits: ${c.reasons.map((r) => r.text).join('; ')}`.slice(0, 300);
        return { kind: 'withdraw', reason, audit: [auditEvents.consentWithdrawn({ ...base, consentId: c.consentId, consentVersion: c.consentVersion, reason })] };
      }
    }
    return { kind: 'ok' };
  };

  const treeHeads = scheduleTreeHeads({ log: audit, cron: config.audit.treeHeadCron, everyEntries: config.audit.treeHeadEveryEntries });
  const rotation = config.keys.rotateCron
    ? scheduleKeyRotation(keys, {
        cron: config.keys.rotateCron,
        overlapMs: config.keys.overlapDays * 86_400_000,
        onRotated: (e) => audit.append([auditEvents.keyRotated({ time: clock(), reason: `new signing key ${e.rotated.keyId}`, actor: 'scheduler' })]),
        onError: (err) => logger.error({ err: describeError(err) }, 'key rotation failed'),
      })
    : undefined;

  const atna = config.audit.atna
    ? startAtnaFeed({
        log: audit,
        host: config.audit.atna.host,
        port: config.audit.atna.port,
        tls: { ca: config.audit.atna.ca, cert: config.audit.atna.cert, key: config.audit.atna.key },
        onError: (err) => logger.warn({ err: describeError(err) }, 'ATNA feed: collector unreachable; spooling'),
      })
    : undefined;

  const handlers = consentHandlers(consents);

  // Certificate expiry: a gauge on every scrape, and a warning from 30 days ahead (at start, then daily).
  const warnExpiring = () => {
    try {
      for (const c of certificateStatus(config.certsDir)) {
        if (!c.revoked && c.daysLeft <= 30) logger.warn({ certificate: c.name, kind: c.kind, notAfter: c.notAfter, daysLeft: c.daysLeft }, c.daysLeft < 0 ? 'certificate has expired' : 'certificate expires within 30 days');
      }
    } catch {
      /* no PKI in this certs folder */
    }
  };
  warnExpiring();
  const expiryTimer = setInterval(warnExpiring, 86_400_000);
  expiryTimer.unref();

  return {
    stages,
    cipher,
    audit,
    keys,
    consents,
    onWithdraw: (cb) => {
      // A withdrawal stops queued data for the purposes it covered (null = every purpose).
      consents.onWithdraw((patientTokens, _id, info) => {
        if (info.purposes === null) cb(patientTokens, undefined);
        else for (const purpose of info.purposes) cb(patientTokens, purpose);
      });
    },
    simulatorReceiver: (body) => {
      const r = receiver.open(body);
      return r.ok ? { ok: true } : { ok: false, status: r.status, reason: r.reason };
    },
    checkServerIdentity: (d, _host, cert) => {
      const pins = d.tls?.pinSha256 ?? [];
      if (pins.length === 0) return undefined;
      if (pins.includes(spkiSha256(cert.raw))) return undefined;
      // The code is what the dead-letter/retry reason shows ("network error (ERR_TLS_PIN_MISMATCH)").
      return Object.assign(new Error(`the server key of ${d.name} does not match a pinned SPKI hash`), { code: 'ERR_TLS_PIN_MISMATCH' });
    },
    recheck,
    consentRoutes: {
      post: (body) => handlers.post(body),
      put: (id, body) => handlers.put(id, body),
      delete: (id) => handlers.delete(id),
      search: (q) => handlers.search(q),
      read: (id, version) => handlers.read(id, version),
    },
    clientName,
    lanTlsOptions: () => ({ ...lanTlsOptions(config.certsDir) }),
    watchLanTls: (server) => watchLanTls(server as never, config.certsDir, { onError: (err) => logger.error({ err: describeError(err) }, 'could not reload LAN TLS material') }),
    async startMllp(pipeline, store) {
      const server = await startMllpServer({
        host: config.listen.mllp!.host,
        port: config.listen.mllp!.port,
        maxFrameBytes: config.limits.mllpMaxFrameBytes,
        idleTimeoutMs: config.limits.mllpIdleTimeoutMs,
        ...(config.lan.tls ? { tls: lanTlsOptions(config.certsDir) } : {}),
        isOpaqueRouted: (messageType) => config.routes.some((r) => r.opaque && (r.match.messageType ?? []).includes(messageType)),
        maxConnections: config.limits.mllpMaxConnections,
        observer: (e) => {
          if (e.kind === 'ack') for (const code of e.codes) metrics.mllpMessages.inc({ ack: code });
          else if (e.kind === 'internal-error') logger.error({ reason: e.reason }, 'MLLP: a message could not be stored; the sender was told to resend');
          else if (e.kind === 'garbage' || e.kind === 'oversize') logger.warn({ kind: e.kind, bytes: e.bytes }, 'MLLP: discarded bytes that were not a frame');
        },
        accept: async (input) => {
          if (store.atQuota()) return { kind: 'rejected', code: 'CR', reason: 'the queue is at its disk quota; resend later' };
          try {
            const r = await pipeline.ingest({
              resource: input.fhir ?? { resourceType: 'Binary', contentType: 'x-application/hl7-v2+er7' },
              source: input.source,
              purpose: config.defaultPurpose,
              format: 'hl7v2',
              v2: input.text,
              messageType: input.messageType,
              idempotencyKey: input.idempotencyKey,
              responseFor: (answer) => input.ackFor(answer.id),
              opaque: input.fhir === null,
            });
            if (r.kind === 'duplicate') return { kind: 'duplicate', storedResponse: r.stored };
            return { kind: 'accepted', messageId: r.answer.id, storedAck: r.stored };
          } catch (err) {
            if ((err as Error)?.name === 'QuotaExceededError') return { kind: 'rejected', code: 'CR', reason: 'the queue is at its disk quota; resend later' };
            if (err instanceof OperationOutcomeError) return { kind: 'rejected', code: err.status === 422 ? 'AR' : 'AE', reason: err.message.slice(0, 200) };
            logger.error({ err: describeError(err), messageType: input.messageType }, 'MLLP: storing a message failed; the sender gets AE and resends');
            throw err;
          }
        },
      });
      // Like the HTTPS listener, the MLLP one follows revocations and renewed certificates.
      const tlsWatch = server.setSecureContext
        ? watchLanTls({ setSecureContext: server.setSecureContext }, config.certsDir, { onError: (err) => logger.error({ err: describeError(err) }, 'could not reload MLLP TLS material') })
        : undefined;
      return {
        port: server.port,
        close: () => {
          tlsWatch?.stop();
          return server.close();
        },
        reloadTls: tlsWatch ? () => tlsWatch.check() : undefined,
      };
    },
    refreshGauges: () => {
      try {
        for (const c of certificateStatus(config.certsDir)) metrics.certDaysLeft.set({ certificate: c.name }, c.daysLeft);
      } catch {
        /* no certificates yet */
      }
    },
    policyRef: () => policy.ref,
    explainMessage: async (id, store) => {
      const m = await store.getMessage(id);
      if (!m) return undefined;
      const outcomes = (Array.isArray(m.outcomes) ? m.outcomes : []) as (DestinationOutcome & { facts?: DecisionFacts })[];
      return {
        message: { id: m.id, receivedAt: m.receivedAt, purpose: m.purpose, source: m.source },
        policyInForce: policy.ref,
        destinations: outcomes.map((o) => {
          const base = { name: o.name, decision: o.decision, reasons: o.reasons, policy: o.policy, ruleIds: o.ruleIds, consent: o.consent, facts: o.facts };
          if (!o.facts) return base;
          // Re-run the policy on the stored facts: the rule-by-rule trace, in plain words.
          const d = decide(policy, {
            destinationName: o.name,
            destination: byName.get(o.name),
            purpose: m.purpose as PurposeOfUse,
            classification: { ...o.facts, patient: null },
            source: m.source,
            now: new Date(m.receivedAt),
          });
          const samePolicy = o.policy?.sha256 === policy.ref.sha256;
          return {
            ...base,
            trace: explain(d).split('\n'),
            ...(samePolicy ? {} : { note: `the policy in force now (${policy.ref.sha256.slice(0, 16)}…) is not the one that decided (${o.policy?.sha256.slice(0, 16)}…): the trace shows how today's policy reasons about the same facts` }),
          };
        }),
      };
    },
    reload: async () => {
      // A rotation made by `darwaza keys rotate` while we run: sign with the new key from now on.
      try {
        keys.reload();
      } catch (err) {
        logger.error({ err: describeError(err) }, 'could not reload the signing keys; keeping the current one');
      }
      const p = await watcher.reload();
      if (p && p.ref.sha256 !== policy.ref.sha256) policyChanged(p, 'reloaded on SIGHUP');
    },
    beforeClose: () => {
      try {
        audit.signTreeHead();
      } catch (err) {
        logger.warn({ err: describeError(err) }, 'could not sign a final tree head');
      }
    },
    close: async () => {
      clearInterval(expiryTimer);
      watcher.stop();
      treeHeads.stop();
      await atna?.stop();
      rotation?.stop();
      consents.close();
    },
  };
}


const DEIDENTIFIED_LABELS: Coding[] = [
  { system: SYSTEMS.confidentiality, code: 'L' },
  { system: SYSTEMS.observationValue, code: 'ANONYED' },
];

/** Confidentiality replaced by L and ANONYED added, on the resource and on each Bundle entry's resource. */
function labelDeidentified(resource: FhirResource): FhirResource {
  const relabel = (r: FhirResource): FhirResource => {
    const kept = (r.meta?.security ?? []).filter((c) => c.system !== SYSTEMS.confidentiality && !(c.system === SYSTEMS.observationValue && c.code === 'ANONYED'));
    return { ...r, meta: { ...r.meta, security: [...DEIDENTIFIED_LABELS, ...kept] } };
  };
  const out = relabel(resource);
  if (Array.isArray(out.entry)) out.entry = out.entry.map((e: { resource?: FhirResource }) => (e?.resource ? { ...e, resource: relabel(e.resource) } : e));
  return out;
}

/** Profile files (JSON or YAML) by base name; compiled per destination, since keys differ. */
function readProfileSources(dir: string): Map<string, object> {
  const out = new Map<string, object>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) {
    const ext = extname(f).toLowerCase();
    if (!['.json', '.yaml', '.yml'].includes(ext)) continue;
    const file = join(dir, f);
    out.set(basename(f, ext), parseProfileText(readFileSync(file, 'utf8'), file));
  }
  return out;
}

/**
 * A change of configuration is itself audited: at start, the config file's SHA-256 is
 * compared with the one recorded last time; a difference appends 'config-changed'.
 */
function recordConfig(db: Db, audit: AuditLog, config: GatewayConfig, clock: () => Date): void {
  migrate(db, 'gateway', [
    {
      version: 1,
      description: 'facts about the gateway itself (the hash of the configuration last run)',
      up: (d) => d.exec('CREATE TABLE gateway_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT'),
    },
  ]);
  let text: string;
  try {
    text = readFileSync(config.file, 'utf8');
  } catch {
    text = JSON.stringify(config);
  }
  const hash = createHash('sha256').update(text).digest('hex');
  const row = db.prepare("SELECT value FROM gateway_state WHERE key = 'config-sha256'").get() as { value: string } | undefined;
  if (row?.value === hash) return;
  db.transaction(() => {
    audit.append([
      auditEvents.configChanged({
        time: clock(),
        actor: 'gateway',
        configSha256: hash,
        reason: row ? 'the configuration file changed since the last start' : 'first start with a configuration',
      }),
    ]);
    db.prepare("INSERT INTO gateway_state (key, value) VALUES ('config-sha256', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(hash);
  })();
}
