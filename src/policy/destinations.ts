/**
 * The signed policy pack decides the facts of each destination (country, region, kind,
 * consent model, which hosts, which recipient key); the unsigned gateway config only names
 * a destination and sets operational knobs (url within the allowed hosts, timeouts,
 * concurrency, retry, link settings). These pure functions compare the two: anything in the
 * config that contradicts or widens the pack is a problem naming the config field and the
 * pack's value.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { DestinationKind } from '../model/index.js';
import { EMBEDDED_SIMULATOR_KEY, type PackDestination } from './types.js';

/** A destination as the config writes it (country, kind and consentModel are optional there). */
export interface ConfigDestination {
  name: string;
  url: string;
  country?: string;
  region?: string;
  kind?: DestinationKind;
  consentModel?: 'opt-in' | 'opt-out';
  recipientPublicKey?: string;
  tls?: { ca?: string; cert?: string; key?: string; pinSha256?: string[] };
}

export interface PackProblem {
  /** 'error' refuses the config; 'warning' is to be logged (plain http to a loopback address). */
  severity: 'error' | 'warning';
  /** The config field, e.g. destinations[0].consentModel. */
  field: string;
  /** The destination's name. */
  destination: string;
  /** What the signed pack says (undefined when the pack does not declare the destination). */
  packValue: unknown;
  /** What the config says. */
  configValue: unknown;
  /** Plain words, naming the field and the pack's value. No PHI: config and pack facts only. */
  message: string;
}

export class PackMismatchError extends Error {
  override name = 'PackMismatchError';
  constructor(readonly problems: PackProblem[]) {
    super(`the gateway config contradicts the signed policy pack:\n${problems.filter((p) => p.severity === 'error').map((p) => `  ${p.message}`).join('\n')}`);
  }
}

/** "sha256:HEX" of a recipient's 32-byte X25519 public key (given as base64). Throws on a bad key. */
export function recipientKeyFingerprint(publicKeyB64: string): string {
  const raw = Buffer.from(publicKeyB64.trim(), 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== publicKeyB64.trim()) {
    throw new Error(`a recipient public key is 32 bytes of base64; got ${raw.length} bytes`);
  }
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

/** A URL host as the pack lists it: lower case, IPv6 without brackets. */
export const normalizeHost = (host: string) => host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');

/** True for addresses that never leave the appliance: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = normalizeHost(host);
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Check one config destination against the pack destination of the same name. */
function checkOne(d: ConfigDestination, i: number, p: PackDestination): PackProblem[] {
  const out: PackProblem[] = [];
  const at = (field: string, packValue: unknown, configValue: unknown, why: string, severity: PackProblem['severity'] = 'error') =>
    out.push({
      severity,
      field: `destinations[${i}].${field}`,
      destination: d.name,
      packValue,
      configValue,
      message: `destinations[${i}].${field} (${d.name}): ${why}`,
    });

  // Facts: the config may repeat the pack's value or leave it out, never say something else.
  for (const f of ['country', 'kind', 'region'] as const) {
    if (d[f] !== undefined && d[f] !== p[f]) {
      at(f, p[f], d[f], `the config says ${show(d[f])} but the signed policy pack says ${show(p[f])}: remove the field or set it to the pack's value`);
    }
  }
  // opt-in is the stricter model: the config may ask for it where the pack says opt-out, not the reverse.
  if (d.consentModel === 'opt-out' && p.consentModel !== 'opt-out') {
    at('consentModel', p.consentModel, d.consentModel, `the config says "opt-out" but the signed policy pack says ${show(p.consentModel)}: opt-out would release data of patients who never consented`);
  }

  // The URL: a host the pack allows; https unless it stays on the appliance.
  let url: URL | undefined;
  try {
    url = new URL(d.url);
  } catch {
    at('url', p.allowedHosts, d.url, `not a URL; the signed policy pack allows hosts ${show(p.allowedHosts)}`);
  }
  if (url) {
    const host = normalizeHost(url.hostname);
    const loopback = isLoopbackHost(host);
    if (!p.allowedHosts.map(normalizeHost).includes(host)) {
      at('url', p.allowedHosts, host, `the host ${show(host)} is not among the hosts the signed policy pack allows (${show(p.allowedHosts)})`);
    }
    if (url.protocol === 'http:') {
      if (loopback) at('url', p.allowedHosts, d.url, `plain http to ${host}: allowed only because it is a loopback address (nothing leaves the appliance); use https for any real uplink`, 'warning');
      else at('url', 'https', url.protocol.slice(0, -1), `plain http to ${host}, which is not a loopback address: data leaving the appliance goes over https only`);
    } else if (url.protocol !== 'https:') {
      at('url', 'https', url.protocol.slice(0, -1), `the scheme ${show(url.protocol.slice(0, -1))} is not allowed: use https`);
    }
    if (p.recipientKey === EMBEDDED_SIMULATOR_KEY && !loopback) {
      at('url', p.recipientKey, host, `the signed policy pack seals to the embedded simulator's key ("${EMBEDDED_SIMULATOR_KEY}"), which is valid only for loopback URLs, not ${host}`);
    }
  }

  // The recipient key: exactly the one the pack names by fingerprint.
  if (p.recipientKey === EMBEDDED_SIMULATOR_KEY) {
    if (d.recipientPublicKey !== undefined) {
      at('recipientPublicKey', p.recipientKey, d.recipientPublicKey, `the signed policy pack says "${EMBEDDED_SIMULATOR_KEY}" (the demo receiver's own key); a key set in the config is not one the pack names: remove it, or put its fingerprint in the pack`);
    }
  } else if (d.recipientPublicKey === undefined) {
    at('recipientPublicKey', p.recipientKey, undefined, `missing: the signed policy pack seals this destination to the key ${p.recipientKey}; without it the data would be sealed to a key the gateway made itself`);
  } else {
    let fp: string | undefined;
    try {
      fp = recipientKeyFingerprint(d.recipientPublicKey);
    } catch (err) {
      at('recipientPublicKey', p.recipientKey, d.recipientPublicKey, `${(err as Error).message}; the signed policy pack expects the key ${p.recipientKey}`);
    }
    if (fp && fp !== p.recipientKey) {
      at('recipientPublicKey', p.recipientKey, fp, `the key's fingerprint is ${fp} but the signed policy pack names ${p.recipientKey}`);
    }
  }

  // SPKI pins: when the pack pins the uplink, the config may narrow the pins, not add its own.
  const pins = d.tls?.pinSha256;
  if (p.spkiPins?.length && pins?.length) {
    const foreign = pins.filter((x) => !p.spkiPins!.includes(x));
    if (foreign.length) at('tls.pinSha256', p.spkiPins, foreign, `pins ${show(foreign)} are not among the signed policy pack's SPKI pins ${show(p.spkiPins)}`);
  }
  return out;
}

/**
 * Every way the config's destinations contradict or widen the pack's. Errors refuse the config;
 * warnings (plain http to a loopback address) are to be logged. Pure.
 */
export function checkConfigAgainstPack(config: ConfigDestination[], pack: { destinations: PackDestination[] }): PackProblem[] {
  const byName = new Map(pack.destinations.map((p) => [p.name, p]));
  const declared = pack.destinations.map((p) => p.name);
  const out: PackProblem[] = [];
  config.forEach((d, i) => {
    const p = byName.get(d.name);
    if (!p) {
      out.push({
        severity: 'error',
        field: `destinations[${i}].name`,
        destination: d.name,
        packValue: declared,
        configValue: d.name,
        message: `destinations[${i}].name: "${d.name}" is not a destination of the signed policy pack (it declares ${declared.length ? declared.map((n) => `"${n}"`).join(', ') : 'none'}); declare it in the pack and sign it`,
      });
      return;
    }
    out.push(...checkOne(d, i, p));
  });
  return out;
}

/** The facts the pack decides, laid over a config destination. */
export type ResolvedDestination<T extends ConfigDestination> = Omit<T, 'country' | 'kind' | 'region' | 'consentModel'> & {
  country: string;
  kind: DestinationKind;
  region?: string;
  consentModel: 'opt-in' | 'opt-out';
  /** The pack's recipient key: "sha256:HEX" or "embedded-simulator". */
  recipientKeyFingerprint: string;
};

/**
 * The destinations the gateway uses: operational knobs from the config, every fact from the
 * pack (country, region, kind, consent model; SPKI pins when the config sets none). Throws
 * PackMismatchError when the config contradicts or widens the pack.
 */
export function resolveDestinations<T extends ConfigDestination>(config: T[], pack: { destinations: PackDestination[] }): Array<ResolvedDestination<T>> {
  const problems = checkConfigAgainstPack(config, pack);
  if (problems.some((p) => p.severity === 'error')) throw new PackMismatchError(problems);
  const byName = new Map(pack.destinations.map((p) => [p.name, p]));
  return config.map((d) => {
    const p = byName.get(d.name)!;
    const { region: _region, ...rest } = d;
    const pins = d.tls?.pinSha256?.length ? d.tls.pinSha256 : p.spkiPins;
    return {
      ...rest,
      country: p.country,
      kind: p.kind,
      ...(p.region !== undefined ? { region: p.region } : {}),
      // The config may only make consent stricter (opt-in where the pack says opt-out).
      consentModel: d.consentModel === 'opt-in' || p.consentModel === 'opt-in' ? 'opt-in' : 'opt-out',
      recipientKeyFingerprint: p.recipientKey,
      ...(pins?.length ? { tls: { ...d.tls, pinSha256: pins } } : {}),
    } as ResolvedDestination<T>;
  });
}

/**
 * The destination as a decision must see it: the facts a rule may look at (country, region,
 * kind) from the pack, whatever the object passed in says; undefined (unknown, so denied) when
 * the pack does not declare it. Pure.
 */
export function withPackFacts<T extends { name: string; country: string; kind: DestinationKind; region?: string }>(
  destination: T | undefined,
  pack: { destinations: PackDestination[] },
): T | undefined {
  if (!destination) return undefined;
  const p = pack.destinations.find((x) => x.name === destination.name);
  if (!p) return undefined;
  const { region: _region, ...rest } = destination;
  return { ...rest, country: p.country, kind: p.kind, ...(p.region !== undefined ? { region: p.region } : {}) } as unknown as T;
}
