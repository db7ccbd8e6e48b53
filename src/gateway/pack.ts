/**
 * The signed policy pack's facts, held by the running gateway: the destinations (every fact
 * from the pack, only the operational knobs from the config) and the de-identification
 * profiles. At start a config that contradicts or widens the pack refuses the start; on each
 * policy reload the new pack is checked against the same config and refused when it no
 * longer matches, so the last good pack (policy, profiles and facts together) stays.
 */
import { ConfigError, type DestinationConfig, type GatewayConfig } from '../config/index.js';
import { checkConfigAgainstPack, resolveDestinations, type CompiledPolicy, type PackProblem, type ResolvedDestination } from '../policy/index.js';
import { compilePackProfiles, policyProfileProblems, type ProfileSources, type ProfilesInForce } from './profiles.js';

export type LiveDestination = ResolvedDestination<DestinationConfig>;

/** The messages of `problems` of one severity, prefixed with the config file. */
const messages = (file: string, problems: PackProblem[], severity: PackProblem['severity']) =>
  problems.filter((p) => p.severity === severity).map((p) => `${file}: ${p.message}`);

export interface CheckedPack {
  /** The config's destinations with the pack's facts (what every stage reads). */
  destinations: LiveDestination[];
  profiles: ProfileSources;
  /** Plain words to log (plain http to a loopback address). */
  warnings: string[];
}

/**
 * Checks the config's destinations and the policy's profiles against `policy`'s pack.
 * Throws ConfigError with every problem (each naming the config field and the pack's value).
 */
export function checkPack(file: string, written: readonly DestinationConfig[], policy: CompiledPolicy, clock: () => Date): CheckedPack {
  const problems = checkConfigAgainstPack([...written], policy);
  const errors = messages(file, problems, 'error');
  let profiles: ProfileSources = new Map();
  try {
    profiles = compilePackProfiles(policy, clock);
    errors.push(...policyProfileProblems(policy, profiles));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(...err.problems);
  }
  if (errors.length) throw new ConfigError(errors);
  return { destinations: resolveDestinations([...written], policy), profiles, warnings: messages(file, problems, 'warning') };
}

/** The pack's facts in force, swapped with the policy on each accepted reload. */
export interface PackInForce {
  /** The live destination objects, shared by the pipeline, recheck, dispatcher, uplink and explain. */
  readonly destinations: readonly LiveDestination[];
  /**
   * Checks `next` against the config as written: the problems (no PHI) when it is refused,
   * or commit(), which writes its facts into the live destinations and swaps the profiles.
   */
  stage(next: CompiledPolicy): { ok: false; problems: string[] } | { ok: true; commit(): void };
}

/** Fact fields of a live destination that the pack decides (written anew on each accepted reload). */
const FACTS = ['country', 'region', 'kind', 'consentModel', 'recipientKeyFingerprint', 'tls'] as const;

export function packInForce(
  config: Pick<GatewayConfig, 'file'>,
  written: readonly DestinationConfig[],
  live: LiveDestination[],
  profiles: ProfilesInForce,
  clock: () => Date,
): PackInForce {
  return {
    destinations: live,
    stage(next) {
      let checked: CheckedPack;
      try {
        checked = checkPack(config.file, written, next, clock);
      } catch (err) {
        if (err instanceof ConfigError) return { ok: false, problems: err.problems };
        throw err;
      }
      return {
        ok: true,
        commit() {
          // The objects are shared: writing into them reaches every reader in the same tick as the policy swap.
          checked.destinations.forEach((fresh, i) => {
            const target = live[i] as unknown as Record<string, unknown>;
            for (const f of FACTS) {
              const v = (fresh as unknown as Record<string, unknown>)[f];
              if (v === undefined) delete target[f];
              else target[f] = v;
            }
          });
          profiles.replace(checked.profiles);
        },
      };
    },
  };
}
