/**
 * Provisioning at start, before any listener: the policy and the de-identification
 * profiles (checked against each other; a mismatch refuses the start before the store
 * is opened), then the keys, the at-rest cipher, the audit log, the consent registry
 * and the stages bound to them. startGateway and the pipeline benchmark both use it.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type GatewayConfig } from '../config/index.js';
import type { Db } from '../store/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../admin/index.js';
import type { Stages } from '../pipeline/index.js';
import { loadPolicy, type CompiledPolicy } from '../policy/index.js';
import { ConsentRegistry } from '../consent/index.js';
import { getSodium, loadOrCreateKeyStore, openAtRestCipher, kekSourceFromConfig, type AtRestCipher, type KeyStore } from '../crypto/index.js';
import { AuditLog, recordConfigChange } from '../audit/index.js';
import { readProfiles, policyProfileProblems, bindProfiles, type ProfileSources } from './profiles.js';
import { buildStages } from './stages.js';
import { policyInForce, type PolicyInForce } from './runtime.js';

export interface PolicyAndProfiles {
  policy: CompiledPolicy;
  profiles: ProfileSources;
}

/** The policy and every profile file, compiled once. Throws ConfigError when the policy names a profile no file provides. */
export async function loadPolicyAndProfiles(config: GatewayConfig, clock: () => Date): Promise<PolicyAndProfiles> {
  const policy = await loadPolicy(config.policy.path, { trustedSigners: config.policy.trustedSigners, requireSigned: config.policy.requireSigned });
  const profiles = await readProfiles(config.policy.profilesDir, clock);
  const problems = policyProfileProblems(policy, profiles, config.policy.profilesDir);
  if (problems.length) throw new ConfigError(problems);
  return { policy, profiles };
}

export interface Provisioned {
  keys: KeyStore;
  cipher: AtRestCipher;
  audit: AuditLog;
  consents: ConsentRegistry;
  policy: PolicyInForce;
  stages: Stages;
}

export async function provision(
  config: GatewayConfig,
  db: Db,
  loaded: PolicyAndProfiles,
  deps: { logger: Logger; metrics: Metrics; clock: () => Date },
): Promise<Provisioned> {
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
  const policy = policyInForce(loaded.policy, { audit, metrics, logger, clock });
  recordConfigChange(db, audit, configText(config), clock);
  const stages = buildStages({
    config,
    policy: policy.current,
    // Each destination's profiles are bound to its own keys here, once.
    profiles: bindProfiles(loaded.profiles, config.destinations.map((d) => d.name), (d) => keys.deidKeys(d)),
    consents,
    keys,
    tokenize,
    logger,
  });
  return { keys, cipher, audit, consents, policy, stages };
}

/** The configuration's text as audited: the file as written, else (built in memory) its JSON. */
function configText(config: GatewayConfig): string {
  try {
    return readFileSync(config.file, 'utf8');
  } catch {
    return JSON.stringify(config);
  }
}
