/**
 * De-identification profiles, provisioned at start: every file in the profiles folder
 * is compiled once, checked against the policy (a rule that names a profile no file
 * provides refuses the start), then bound to each destination's keys.
 */
import { existsSync } from 'node:fs';
import { ConfigError } from '../config/index.js';
import type { CompiledPolicy } from '../policy/index.js';
import { loadProfiles, ProfileError, type CompiledProfile, type SanitizeKeys } from '../sanitize/index.js';

/** Compiled profiles by name, not yet bound to a destination's keys. */
export type ProfileSources = ReadonlyMap<string, CompiledProfile>;

/**
 * Compiles every profile file in `dir` (a missing folder provides none). Two files
 * that claim one profile name (pk-research.json and pk-research.yaml) refuse the start.
 */
export async function readProfiles(dir: string, clock: () => Date): Promise<ProfileSources> {
  if (!existsSync(dir)) return new Map();
  try {
    return await loadProfiles(dir, { now: clock });
  } catch (err) {
    if (err instanceof ProfileError) throw new ConfigError([`policy.profilesDir: ${err.message}`]);
    throw err;
  }
}

/** Each rule obligation that names a profile `available` lacks: the rule and the profile. */
export function missingProfiles(policy: Pick<CompiledPolicy, 'rules'>, available: ReadonlySet<string> | ReadonlyMap<string, unknown>): { ruleId: string; profile: string }[] {
  const out: { ruleId: string; profile: string }[] = [];
  for (const rule of policy.rules) {
    for (const o of rule.obligations) {
      if ('sanitize' in o && !available.has(o.sanitize)) out.push({ ruleId: rule.id, profile: o.sanitize });
    }
  }
  return out;
}

/** The problems (plain words, no PHI) when `policy` names profiles `dir` does not provide; empty when it may run. */
export function policyProfileProblems(policy: Pick<CompiledPolicy, 'rules' | 'fileName'>, available: ProfileSources, dir: string): string[] {
  return missingProfiles(policy, available).map(
    (m) => `${policy.fileName}: rule "${m.ruleId}" names de-identification profile "${m.profile}", which no file in ${dir} provides (known: ${[...available.keys()].join(', ') || 'none'})`,
  );
}

/** Every profile bound to every destination's keys, once, at start. */
export interface DestinationProfiles {
  /** The profile `name` with `destination`'s keys; undefined when no file provides it or the destination is not configured. */
  get(name: string, destination: string): CompiledProfile | undefined;
}

export function bindProfiles(sources: ProfileSources, destinations: readonly string[], keysFor: (destination: string) => SanitizeKeys): DestinationProfiles {
  const bound = new Map<string, Map<string, CompiledProfile>>();
  if (sources.size > 0) {
    for (const d of destinations) {
      const keys = keysFor(d);
      bound.set(d, new Map([...sources].map(([name, p]) => [name, p.withKeys(keys)])));
    }
  }
  return { get: (name, destination) => bound.get(destination)?.get(name) };
}
