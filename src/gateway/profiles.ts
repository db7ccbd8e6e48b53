/**
 * De-identification profiles, provisioned from the policy pack: each profile text the pack
 * hashed (and, when signed, signed) is compiled once, checked against the policy (a rule
 * that names a profile the pack does not provide refuses the start or the reload), then
 * bound to each destination's keys. They are never read again from the folder, so what is
 * applied is what the pack's hash covers; an accepted policy reload brings new ones.
 */
import { ConfigError } from '../config/index.js';
import type { CompiledPolicy } from '../policy/index.js';
import { compileProfile, parseProfileText, ProfileError, type CompiledProfile, type SanitizeKeys } from '../sanitize/index.js';

/** Compiled profiles by name, not yet bound to a destination's keys. */
export type ProfileSources = ReadonlyMap<string, CompiledProfile>;

/**
 * Compiles every profile text of the pack. A profile that does not parse or compile throws
 * ConfigError naming the profile and its file (no content).
 */
export function compilePackProfiles(policy: Pick<CompiledPolicy, 'pack'>, clock: () => Date): ProfileSources {
  const out = new Map<string, CompiledProfile>();
  const problems: string[] = [];
  for (const [name, p] of Object.entries(policy.pack?.profiles ?? {})) {
    try {
      out.set(name, compileProfile(parseProfileText(p.text, p.file), { name, now: clock }));
    } catch (err) {
      if (!(err instanceof ProfileError)) throw err;
      problems.push(`policy pack: profile "${name}" (${p.file}): ${err.message}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
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

/** The problems (plain words, no PHI) when `policy` names profiles its pack does not provide; empty when it may run. */
export function policyProfileProblems(policy: Pick<CompiledPolicy, 'rules' | 'fileName' | 'pack' | 'sanitizeProfiles'>, available: ProfileSources): string[] {
  return missingProfiles(policy, available).map((m) => {
    const file = policy.pack?.files.find((f) => f.role === `profile:${m.profile}`)?.path;
    const why = file ? `its file ${file} is missing` : 'the policy does not declare it under sanitizeProfiles';
    return `${policy.fileName}: rule "${m.ruleId}" names de-identification profile "${m.profile}", which the policy pack does not provide (${why}; the pack provides: ${[...available.keys()].join(', ') || 'none'})`;
  });
}

/** Every profile bound to every destination's keys; swapped as a whole when a new pack is accepted. */
export interface DestinationProfiles {
  /** The profile `name` with `destination`'s keys; undefined when the pack does not provide it or the destination is not configured. */
  get(name: string, destination: string): CompiledProfile | undefined;
}

export interface ProfilesInForce extends DestinationProfiles {
  /** The profiles of a newly accepted pack, bound now, in force from the next decision. */
  replace(sources: ProfileSources): void;
}

function bind(sources: ProfileSources, destinations: readonly string[], keysFor: (destination: string) => SanitizeKeys) {
  const bound = new Map<string, Map<string, CompiledProfile>>();
  if (sources.size > 0) {
    for (const d of destinations) {
      const keys = keysFor(d);
      bound.set(d, new Map([...sources].map(([name, p]) => [name, p.withKeys(keys)])));
    }
  }
  return bound;
}

export function bindProfiles(sources: ProfileSources, destinations: readonly string[], keysFor: (destination: string) => SanitizeKeys): ProfilesInForce {
  let bound = bind(sources, destinations, keysFor);
  return {
    get: (name, destination) => bound.get(destination)?.get(name),
    replace(next) {
      bound = bind(next, destinations, keysFor);
    },
  };
}
