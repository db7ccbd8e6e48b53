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
import { buildStages } from './stages.js';
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

export async function provision(
  config: GatewayConfig,
  db: Db,
  loaded: PolicyAndProfiles,
  deps: { logger: Logger; metrics: Metrics; clock: () => Date },
): Promise<Provisioned> {
  const { logger, metrics, clock } = deps;
  for (const w of loaded.warnings) logger.warn(`WARNING: ${w}`);
  // The R4 StructureDefinitions ingress validates against: indexed once, before any listener.
  loadFhirDefinitions();
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
  const memory = PatientMemory.open(db, { cipher, clock });
  const consents = ConsentRegistry.open(db, { tokenize, cipher, clock, timezone: config.timezone, audit, memory });
  const policy = policyInForce(loaded.policy, { audit, metrics, logger, clock });
  recordConfigChange(db, audit, configText(config), clock);
  // Each destination's profiles are bound to its own keys here, and again for each accepted pack.
  const profiles = bindProfiles(loaded.profiles, loaded.config.destinations.map((d) => d.name), (d) => keys.deidKeys(d));
  const pack = packInForce(config, loaded.written, loaded.config.destinations, profiles, clock);
  const stages = buildStages({
    config: loaded.config,
    policy: policy.current,
    profiles,
    consents,
    memory,
    keys,
    tokenize,
    logger,
  });
  return { keys, cipher, audit, consents, policy, pack, stages };
}

/** The configuration's text as audited: the file as written, else (built in memory) its JSON. */
function configText(config: GatewayConfig): string {
  try {
    return readFileSync(config.file, 'utf8');
  } catch {
    return JSON.stringify(config);
  }
}
