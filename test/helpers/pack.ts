/**
 * Test policy packs. The signed pack decides every destination fact, so a test that adds a
 * destination to its config must ship a pack that declares it, as an operator would: these
 * helpers copy the repository's policies/ folder and append (or replace) destinations in the
 * copied policies/pk/pk.policy.yaml, with the facts the test's config gives them.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { recipientKeyFingerprint, isLoopbackHost, EMBEDDED_SIMULATOR_KEY, type PackDestination } from '../../src/policy/index.js';
import { REPO } from './processes.js';

/** A destination as a test's config writes it (the fields a pack entry is derived from). */
export interface ConfigLike {
  name: string;
  url: string;
  country: string;
  kind: PackDestination['kind'];
  region?: string;
  consentModel?: 'opt-in' | 'opt-out';
  recipientPublicKey?: string;
}

/**
 * The pack entry that agrees with a config destination: its country, kind, region and consent
 * model (default opt-in), its URL's host, and its recipient key's fingerprint — or the embedded
 * simulator's key for a loopback URL without a configured key (the demo receiver's keys in certs/).
 */
export function packEntryFor(d: ConfigLike): PackDestination {
  const host = new URL(d.url).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  let recipientKey: string;
  if (d.recipientPublicKey) recipientKey = recipientKeyFingerprint(d.recipientPublicKey);
  else if (isLoopbackHost(host)) recipientKey = EMBEDDED_SIMULATOR_KEY;
  else throw new Error(`test pack: ${d.name} has no recipientPublicKey and a URL off the appliance; give it a key`);
  return {
    name: d.name,
    country: d.country,
    kind: d.kind,
    ...(d.region !== undefined ? { region: d.region } : {}),
    consentModel: d.consentModel ?? 'opt-in',
    allowedHosts: [host],
    recipientKey,
  };
}

/** The policy file of a folder laid out as `darwaza init` makes it. */
export const packPolicyFile = (dir: string) => join(dir, 'policies', 'pk', 'pk.policy.yaml');

/**
 * Writes pack entries into a policy file's `destinations:` list: an entry replaces the one of
 * the same name, or is appended. Only that top-level block is rewritten (values as JSON, which
 * is YAML); every other byte of the file stays as it was, so a test may still edit it by text.
 */
export function declareInPack(policyFile: string, entries: PackDestination[]): void {
  const text = readFileSync(policyFile, 'utf8');
  const current = ((parse(text) as { destinations?: PackDestination[] }).destinations ?? []).slice();
  for (const e of entries) {
    const i = current.findIndex((x) => x.name === e.name);
    if (i >= 0) current[i] = e;
    else current.push(e);
  }
  const block =
    'destinations:\n' +
    current.map((d) => Object.entries(d).map(([k, v], i) => `${i === 0 ? '  - ' : '    '}${k}: ${JSON.stringify(v)}`).join('\n')).join('\n') +
    '\n';
  const start = /^destinations:.*\n/m.exec(text);
  if (!start) {
    writeFileSync(policyFile, `${text.replace(/\n*$/, '\n')}${block}`);
    return;
  }
  // The block ends at the next line that starts a top-level key (or a top-level comment before one).
  const rest = text.slice(start.index + start[0].length);
  const next = /^(?:#.*\n)*[^\s#-][^\n]*:/m.exec(rest);
  const end = next ? start.index + start[0].length + next.index : text.length;
  writeFileSync(policyFile, `${text.slice(0, start.index)}${block}\n${text.slice(end)}`);
}

/**
 * Makes the pack in `dir` (policies/pk/pk.policy.yaml, as init copied it) declare every
 * destination of `dir`'s gateway.config.json with the facts that config gives it.
 */
export function packAgreesWithConfig(dir: string, configFile = join(dir, 'gateway.config.json')): void {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { destinations: ConfigLike[] };
  declareInPack(packPolicyFile(dir), config.destinations.map(packEntryFor));
}

/** Copies the repository's policies/ folder (policy pack and profiles) into `dir`; returns the policy folder. */
export function copyPolicies(dir: string): string {
  cpSync(join(REPO, 'policies'), join(dir, 'policies'), { recursive: true });
  return join(dir, 'policies', 'pk');
}
