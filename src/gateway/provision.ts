/**
 * Provisioning at start, before any listener: the policy pack, its de-identification
 * profiles and its destinations, checked against the config (a config that contradicts or
 * widens the pack, or a policy naming a profile the pack lacks, refuses the start before the
 * store is opened), then the keys, the at-rest cipher, the audit log, the consent registry
 * and the stages bound to them. startGateway and the pipeline benchmark both use it.
 */
import { readFileSync } from 'node:fs';
import type { DestinationConfig, GatewayConfig } from '../config/index.js';
import type { Db } from '../store/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../admin/index.js';
import type { Stages } from '../pipeline/index.js';
import { loadPolicy, unsignedPolicyWarning, type CompiledPolicy } from '../policy/index.js';
import { ConsentRegistry, PatientMemory } from '../consent/index.js';
import { getSodium, loadOrCreateKeyStore, openAtRestCipher, kekSourceFromConfig, type AtRestCipher, type KeyStore } from '../crypto/index.js';
import { AuditLog, recordConfigChange } from '../audit/index.js';
import type { PayloadCipher } from '../model/index.js';
import { bindProfiles, type ProfileSources } from './profiles.js';
import { checkPack, packInForce, type LiveDestination, type PackInForce } from './pack.js';
import { buildStages, type StageDeps } from './stages.js';
import { openSharedState, type SharedState } from './shared.js';
import type { QueueObserver } from '../queue/index.js';
import { loadFhirDefinitions } from '../fhir/index.js';
import { policyInForce, type PolicyInForce } from './runtime.js';

export interface PolicyAndProfiles {
  policy: CompiledPolicy;
  /** The pack's profiles, compiled once from the texts the pack hashed. */
  profiles: ProfileSources;
  /** The config with every destination fact from the pack: what the gateway runs with. */
  config: GatewayConfig & { destinations: LiveDestination[] };
  /** The config's destinations as written, against which each reloaded pack is checked again. */
  written: readonly DestinationConfig[];
  /** Plain words to log at start (plain http to a loopback address; an unsigned pack). */
  warnings: string[];
}

/**
 * The policy pack, its profiles and its destinations, checked against the config. Throws
 * PolicyError (unreadable, unsigned, tampered pack) or ConfigError naming each config field
 * that contradicts or widens the pack, with the pack's value, and each profile it lacks.
 */
export async function loadPolicyAndProfiles(config: GatewayConfig, clock: () => Date): Promise<PolicyAndProfiles> {
  const policy = await loadPolicy(config.policy.path, { trustedSigners: config.policy.trustedSigners, requireSigned: config.policy.requireSigned });
  const checked = checkPack(config.file, config.destinations, policy, clock);
  const unsigned = unsignedPolicyWarning(config.policy, policy.signedBy);
  return {
    policy,
    profiles: checked.profiles,
    config: { ...config, destinations: checked.destinations },
    written: config.destinations,
    warnings: [...(unsigned ? [unsigned] : []), ...checked.warnings],
  };
}

export interface Provisioned {
  keys: KeyStore;
  cipher: AtRestCipher;
  audit: AuditLog;
  consents: ConsentRegistry;
  policy: PolicyInForce;
  /** The pack's destinations and profiles in force (runtime swaps them on an accepted reload). */
  pack: PackInForce;
  stages: Stages;
}

/** The keys, and the signer that follows the active gateway key (a rotation reaches the tree heads at once). */
async function keysAndSigner(config: GatewayConfig) {
  // The R4 StructureDefinitions ingress validates against: indexed once, before any listener.
  loadFhirDefinitions();
  await getSodium();
  const keys = await loadOrCreateKeyStore(config.certsDir);
  const signer = {
    get keyId() {
      return keys.signer().keyId;
    },
    get publicKey() {
      return keys.signer().publicKey;
    },
    sign: (bytes: Uint8Array) => keys.signer().sign(bytes),
  };
  return { keys, signer };
}

/** Provisioning on the embedded SQLite store: everything in this appliance's one database file. */
export async function provision(
  config: GatewayConfig,
  db: Db,
  loaded: PolicyAndProfiles,
  deps: { logger: Logger; metrics: Metrics; clock: () => Date },
): Promise<Provisioned> {
  const { logger, clock } = deps;
  for (const w of loaded.warnings) logger.warn(`WARNING: ${w}`);
  const { keys, signer } = await keysAndSigner(config);
  const tokenize = keys.tokenizer();
  const cipher = await openAtRestCipher(db, { kek: kekSourceFromConfig(config.keys.kek, { certsDir: config.certsDir }), clock });
  const audit = AuditLog.open(db, { signer, clock });
  // Every stored Consent version is audited in the same transaction as its write.
  const memory = PatientMemory.open(db, { cipher, clock });
  const consents = ConsentRegistry.open(db, { tokenize, cipher, clock, timezone: config.timezone, audit, memory });
  const rest = finish(config, db, loaded, deps, { keys, tokenize, audit, stageState: { consents, memory } });
  return { keys, cipher, audit, consents, ...rest };
}

export interface SharedProvisioned {
  keys: KeyStore;
  shared: SharedState;
  policy: PolicyInForce;
  pack: PackInForce;
  stages: Stages;
}

/**
 * Provisioning on PostgreSQL shared by a pair (openSharedState): the stages read each
 * message's patient state through the async ports. `db` is this node's own SQLite file (its
 * API tokens, the record of its configuration).
 */
export async function provisionShared(
  config: GatewayConfig & { store: { kind: 'postgres' } },
  db: Db,
  loaded: PolicyAndProfiles,
  deps: { logger: Logger; metrics: Metrics; clock: () => Date; observer: QueueObserver },
): Promise<SharedProvisioned> {
  const { logger, clock } = deps;
  for (const w of loaded.warnings) logger.warn(`WARNING: ${w}`);
  const { keys, signer } = await keysAndSigner(config);
  const shared = await openSharedState(config.store, config, { keys, signer, logger, clock, quotaBytes: config.limits.queueQuotaBytes, observer: deps.observer });
  try {
    const rest = finish(config, db, loaded, deps, { keys, tokenize: keys.tokenizer(), audit: shared.audit, stageState: { patientState: { consents: shared.consents, facts: shared.facts } } });
    return { keys, shared, ...rest };
  } catch (err) {
    await shared.close();
    throw err;
  }
}

/** What both stores share: the policy in force (audited), the config record, the profiles bound to their keys, the stages. */
function finish(
  config: GatewayConfig,
  db: Db,
  loaded: PolicyAndProfiles,
  deps: { logger: Logger; metrics: Metrics; clock: () => Date },
  parts: { keys: KeyStore; tokenize: (s: string) => string; audit: Pick<AuditLog, 'append'>; stageState: Pick<StageDeps, 'consents' | 'memory' | 'patientState'> },
): { policy: PolicyInForce; pack: PackInForce; stages: Stages } {
  const { logger, metrics, clock } = deps;
  const { keys, tokenize, audit } = parts;
  const policy = policyInForce(loaded.policy, { audit, metrics, logger, clock });
  recordConfigChange(db, audit, configText(config), clock);
  // Each destination's profiles are bound to its own keys here, and again for each accepted pack.
  const profiles = bindProfiles(loaded.profiles, loaded.config.destinations.map((d) => d.name), (d) => keys.deidKeys(d));
  const pack = packInForce(config, loaded.written, loaded.config.destinations, profiles, clock);
  const stages = buildStages({
    config: loaded.config,
    policy: policy.current,
    profiles,
    ...parts.stageState,
    keys,
    tokenize,
    logger,
  });
  return { policy, pack, stages };
}

/** The configuration's text as audited: the file as written, else (built in memory) its JSON. */
function configText(config: GatewayConfig): string {
  try {
    return readFileSync(config.file, 'utf8');
  } catch {
    return JSON.stringify(config);
  }
}
