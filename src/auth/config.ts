/**
 * The `access` section of gateway.config.json: which identities hold which roles.
 *
 *   "access": {
 *     "clients": { "<certificate CN or SAN>": { "roles": ["sender"], "grants": ["integration-engine"] } },
 *     "mllpPlainSenders": [ { "ip": "10.1.2.3", "name": "legacy-lab", "roles": ["sender"] } ],
 *     "loopback": { "roles": ["sender"] },
 *     "metricsToken": "env:DARWAZA_METRICS_TOKEN",
 *     "consentReadsPerMinute": 60
 *   }
 *
 * - clients: names from client certificates issued by darwaza's CA.
 * - mllpPlainSenders: legacy v2 systems allowed on MLLP without TLS, by exact IP.
 * - loopback: roles for unauthenticated peers on a loopback listener without TLS (the demo,
 *   a co-located integration engine); absent = none.
 * - metricsToken: the Prometheus bearer token for /metrics, "env:NAME" (the token is in that
 *   environment variable) or "sha256:<64 hex>" (only its hash is in the config).
 * - consentReadsPerMinute: Consent reads and searches one identity may make per minute (a
 *   token bucket holding a minute's worth), against enumerating the registry; default 60.
 * API tokens carry their own roles (made by `darwaza tokens create`); they are not listed here.
 * The whole section is optional: absent, nobody but token holders has any role.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { GRANTS, ROLES, isGrant, isRole, type Grant, type Role } from './roles.js';
import { normalizeIp } from './net.js';

export interface RoleSet {
  roles: Role[];
  grants: Grant[];
}

export interface PlainMllpSender extends RoleSet {
  ip: string;
  name: string;
}

export type MetricsTokenRef = { from: 'env'; variable: string } | { from: 'sha256'; hash: string };

export interface AccessConfig {
  clients: Record<string, RoleSet>;
  mllpPlainSenders: PlainMllpSender[];
  loopback: RoleSet | null;
  metricsToken: MetricsTokenRef | null;
  consentReadsPerMinute: number;
}

export const DEFAULT_CONSENT_READS_PER_MINUTE = 60;

/** No section: nobody but API-token holders has any role. */
export const emptyAccess = (): AccessConfig => ({ clients: {}, mllpPlainSenders: [], loopback: null, metricsToken: null, consentReadsPerMinute: DEFAULT_CONSENT_READS_PER_MINUTE });

export type ParsedAccess = { ok: true; access: AccessConfig } | { ok: false; errors: string[] };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,127}$/;
const METRICS_REF = /^(?:env:([A-Za-z_][A-Za-z0-9_]*)|sha256:([0-9a-f]{64}))$/;

/** For the config's JSON Schema (structure only; parseAccessConfig checks the meaning too). */
const roleSetSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['roles'],
  properties: {
    roles: { type: 'array', items: { type: 'string', enum: [...ROLES] }, description: 'roles this identity holds' },
    grants: { type: 'array', items: { type: 'string', enum: [...GRANTS] }, default: [], description: 'extra grants (sender only)' },
  },
};
export const accessConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'who may do what: identities and their roles (see docs/security.md)',
  properties: {
    clients: { type: 'object', default: {}, additionalProperties: roleSetSchema, description: 'client certificate CN/SAN → roles' },
    mllpPlainSenders: {
      type: 'array',
      default: [],
      description: 'legacy HL7 v2 systems allowed on MLLP without TLS, by IP',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['ip', 'name', 'roles'],
        properties: { ip: { type: 'string' }, name: { type: 'string' }, ...roleSetSchema.properties },
      },
    },
    loopback: { ...roleSetSchema, description: 'roles of unauthenticated peers on loopback listeners without TLS (demo)' },
    metricsToken: { type: 'string', pattern: METRICS_REF.source, description: '"env:NAME" or "sha256:<hex>": bearer token for /metrics' },
    consentReadsPerMinute: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      default: DEFAULT_CONSENT_READS_PER_MINUTE,
      description: 'Consent reads and searches per identity per minute (429 beyond, audited)',
    },
  },
} as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v)?.slice(0, 80) ?? String(v);

/** Validates the raw `access` value (undefined = absent). Errors name the file and the field. */
export function parseAccessConfig(raw: unknown, file: string): ParsedAccess {
  const errors: string[] = [];
  const err = (field: string, text: string) => errors.push(`${file}: ${field}: ${text}`);
  if (raw === undefined) return { ok: true, access: emptyAccess() };
  if (!isObject(raw)) {
    err('access', `must be an object, not ${show(raw)}`);
    return { ok: false, errors };
  }
  const known = ['clients', 'mllpPlainSenders', 'loopback', 'metricsToken', 'consentReadsPerMinute'];
  for (const k of Object.keys(raw)) if (!known.includes(k)) err(`access.${k}`, `unknown field (expected one of: ${known.join(', ')})`);

  const roleSet = (field: string, v: unknown, extra: string[] = []): RoleSet | undefined => {
    if (!isObject(v)) {
      err(field, `must be an object with "roles", not ${show(v)}`);
      return undefined;
    }
    for (const k of Object.keys(v)) if (![...extra, 'roles', 'grants'].includes(k)) err(`${field}.${k}`, `unknown field (expected one of: ${[...extra, 'roles', 'grants'].join(', ')})`);
    const roles: Role[] = [];
    const grants: Grant[] = [];
    if (!Array.isArray(v.roles)) err(`${field}.roles`, `must be a list of roles (${ROLES.join(', ')})`);
    else
      v.roles.forEach((r, i) => {
        if (typeof r === 'string' && isRole(r)) {
          if (!roles.includes(r)) roles.push(r);
        } else err(`${field}.roles[${i}]`, `${show(r)} is not a role — expected one of: ${ROLES.join(', ')}`);
      });
    if (v.grants !== undefined) {
      if (!Array.isArray(v.grants)) err(`${field}.grants`, `must be a list of grants (${GRANTS.join(', ')})`);
      else
        v.grants.forEach((g, i) => {
          if (typeof g === 'string' && isGrant(g)) {
            if (!grants.includes(g)) grants.push(g);
          } else err(`${field}.grants[${i}]`, `${show(g)} is not a grant — expected one of: ${GRANTS.join(', ')}`);
        });
    }
    // A grant widens what a sender may do; on anything else it would silently mean nothing.
    if (grants.length && Array.isArray(v.roles) && !roles.includes('sender')) err(`${field}.grants`, 'grants only apply to the "sender" role: add "sender" to roles or remove the grants');
    return { roles, grants };
  };

  const clients: Record<string, RoleSet> = {};
  if (raw.clients !== undefined) {
    if (!isObject(raw.clients)) err('access.clients', `must be an object of certificate name → { roles, grants }, not ${show(raw.clients)}`);
    else
      for (const [name, v] of Object.entries(raw.clients)) {
        const field = `access.clients[${JSON.stringify(name)}]`;
        const rs = roleSet(field, v);
        // Names start with a letter or digit, so "__proto__" and friends never become keys.
        if (!NAME.test(name)) err(field, 'is not a certificate name (letters, digits and . _ @ : / -, at most 128)');
        else if (rs) clients[name] = rs;
      }
  }

  const mllpPlainSenders: PlainMllpSender[] = [];
  if (raw.mllpPlainSenders !== undefined) {
    if (!Array.isArray(raw.mllpPlainSenders)) err('access.mllpPlainSenders', `must be a list of { ip, name, roles }, not ${show(raw.mllpPlainSenders)}`);
    else
      raw.mllpPlainSenders.forEach((v, i) => {
        const field = `access.mllpPlainSenders[${i}]`;
        const rs = roleSet(field, v, ['ip', 'name']);
        if (!rs || !isObject(v)) return;
        const ip = typeof v.ip === 'string' ? normalizeIp(v.ip) : '';
        if (!isIP(ip)) err(`${field}.ip`, `${show(v.ip)} is not an IP address (one address, no ranges)`);
        else if (mllpPlainSenders.some((s) => s.ip === ip)) err(`${field}.ip`, `${ip} is listed twice`);
        if (typeof v.name !== 'string' || !NAME.test(v.name)) err(`${field}.name`, `${show(v.name)} is not a name (letters, digits and . _ @ : / -)`);
        mllpPlainSenders.push({ ip, name: String(v.name), ...rs });
      });
  }

  let loopback: RoleSet | null = null;
  if (raw.loopback !== undefined && raw.loopback !== null) loopback = roleSet('access.loopback', raw.loopback) ?? null;

  let metricsToken: MetricsTokenRef | null = null;
  if (raw.metricsToken !== undefined && raw.metricsToken !== null) {
    const m = typeof raw.metricsToken === 'string' ? METRICS_REF.exec(raw.metricsToken) : null;
    if (!m) err('access.metricsToken', `${typeof raw.metricsToken === 'string' ? 'this value' : show(raw.metricsToken)} is not "env:NAME" or "sha256:<64 lower-case hex>" (never the token itself)`);
    else metricsToken = m[1] ? { from: 'env', variable: m[1] } : { from: 'sha256', hash: m[2]! };
  }

  let consentReadsPerMinute = DEFAULT_CONSENT_READS_PER_MINUTE;
  if (raw.consentReadsPerMinute !== undefined) {
    const n = raw.consentReadsPerMinute;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 100000) err('access.consentReadsPerMinute', `${show(n)} is not a whole number from 1 to 100000`);
    else consentReadsPerMinute = n;
  }

  return errors.length ? { ok: false, errors } : { ok: true, access: { clients, mllpPlainSenders, loopback, metricsToken, consentReadsPerMinute } };
}

/**
 * The SHA-256 the metrics bearer must hash to. "env:NAME" reads the token from the
 * environment once, at start; a missing or short variable is an error naming it.
 */
export function resolveMetricsToken(ref: MetricsTokenRef | null, env: NodeJS.ProcessEnv): { ok: true; sha256?: Buffer } | { ok: false; error: string } {
  if (!ref) return { ok: true };
  if (ref.from === 'sha256') return { ok: true, sha256: Buffer.from(ref.hash, 'hex') };
  const value = env[ref.variable];
  if (!value) return { ok: false, error: `access.metricsToken: the environment variable ${ref.variable} is not set` };
  if (value.length < 20) return { ok: false, error: `access.metricsToken: the token in ${ref.variable} is shorter than 20 characters` };
  return { ok: true, sha256: createHash('sha256').update(value, 'utf8').digest() };
}
