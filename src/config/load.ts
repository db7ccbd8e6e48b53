/**
 * Loading gateway.config.json: parse, validate against the schema, apply defaults,
 * resolve paths. A wrong config is refused with a message that names the file, the
 * line, the field, the value and what was expected — never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve, isAbsolute } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { gatewayConfigSchema } from './schema.js';
import { DEFAULT_TIMEZONE } from './defaults.js';
import type { GatewayConfig, HostPort } from './types.js';
import { parseAccessConfig, type AccessConfig } from '../auth/index.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validate = ajv.compile(gatewayConfigSchema);

/** Parses HOST:PORT (IPv6 in brackets allowed). */
export function parseHostPort(value: string): HostPort {
  const m = /^\[?([^\]\s]*?)\]?:(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new ConfigError([`"${value}" is not HOST:PORT`]);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

function lineOf(text: string, path: (string | number)[]): string {
  try {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc });
    // Walk up until a node exists (a missing field is reported at its parent).
    for (let p = [...path]; p.length >= 0; p = p.slice(0, -1)) {
      const node = p.length ? doc.getIn(p, true) : doc.contents;
      if (isNode(node) && node.range) {
        const pos = lc.linePos(node.range[0]);
        return `:${pos.line}:${pos.col}`;
      }
      if (!p.length) break;
    }
  } catch {
    /* positions are a courtesy */
  }
  return '';
}

const fieldName = (path: (string | number)[]) =>
  path.length ? path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('') : '(top level)';

function schemaAt(schemaPath: string): { description?: string; enum?: unknown[] } {
  // ajv's schemaPath is like "#/properties/destinations/items/properties/country/pattern"
  const parts = schemaPath.replace(/^#\//, '').split('/').slice(0, -1);
  let node: unknown = gatewayConfigSchema;
  for (const part of parts) node = (node as Record<string, unknown>)?.[part];
  return (node ?? {}) as { description?: string; enum?: unknown[] };
}

function describe(err: ErrorObject, data: unknown): { path: (string | number)[]; text: string } {
  const path = err.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
  let value: unknown = data;
  for (const p of path) value = (value as Record<string | number, unknown>)?.[p];
  const shown = JSON.stringify(value)?.slice(0, 80);
  const s = schemaAt(err.schemaPath);
  switch (err.keyword) {
    case 'additionalProperties': {
      const extra = (err.params as { additionalProperty: string }).additionalProperty;
      const parent = schemaAt(err.schemaPath) as { properties?: Record<string, unknown> };
      const known = Object.keys(parent.properties ?? {}).join(', ');
      return { path: [...path, extra], text: `unknown field "${extra}"${known ? ` (expected one of: ${known})` : ''}` };
    }
    case 'required':
      return { path, text: `missing required field "${(err.params as { missingProperty: string }).missingProperty}"` };
    case 'enum':
      return { path, text: `value ${shown} is not allowed — expected one of: ${(err.params as { allowedValues: unknown[] }).allowedValues.join(', ')}` };
    case 'pattern':
      return { path, text: `value ${shown} is not valid — expected ${s.description ?? `to match ${(err.params as { pattern: string }).pattern}`}` };
    case 'type':
      return { path, text: `value ${shown} has the wrong type — expected ${(err.params as { type: string }).type}` };
    default:
      return { path, text: `value ${shown} ${err.message ?? 'is not valid'}` };
  }
}

/** "access.clients[\"lab\"].roles[0]" → ["access", "clients", "lab", "roles", 0]. */
function pathOfField(field: string): (string | number)[] {
  const path: (string | number)[] = [];
  const re = /\.?([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;
  for (let m = re.exec(field); m && m[0]; m = re.exec(field)) path.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string)));
  return path;
}

/** Puts the line of the named field after the file in a "<file>: <field>: <text>" message. */
function withLine(message: string, where: { file: string; text?: string }): string {
  const prefix = `${where.file}: `;
  if (!where.text || !message.startsWith(prefix)) return message;
  const rest = message.slice(prefix.length);
  const field = /^(.*?): /.exec(rest)?.[1];
  return field ? `${where.file}${lineOf(where.text, pathOfField(field))}: ${rest}` : message;
}

/**
 * lan.senders, the old allow-list of client names, is kept as a deprecated alias: each
 * name holds the role "sender" (added to its access.clients entry, if it has one).
 * Returns the deprecation notices for start to print.
 */
function foldSenders(access: AccessConfig, senders: string[], file: string): string[] {
  if (!senders.length) return [];
  for (const name of senders) {
    const entry = Object.hasOwn(access.clients, name) ? access.clients[name]! : undefined;
    if (entry) {
      if (!entry.roles.includes('sender')) entry.roles = [...entry.roles, 'sender'];
    } else access.clients[name] = { roles: ['sender'], grants: [] };
  }
  return [
    `${file}: lan.senders is deprecated: its names (${senders.length}) were given the role "sender"; move them to access.clients, e.g. "access": { "clients": { "${senders[0]}": { "roles": ["sender"] } } }`,
  ];
}

/**
 * Validates raw config data (already parsed). `text` (the file's text) gives line numbers.
 * Returns the config with defaults applied and paths resolved against `baseDir`.
 */
export function resolveConfig(raw: unknown, where: { file: string; text?: string; baseDir: string }): GatewayConfig {
  const data = structuredClone(raw);
  if (!validate(data)) {
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const err of validate.errors ?? []) {
      if (err.keyword === 'anyOf' || err.keyword === 'if') continue;
      const d = describe(err, data);
      const line = where.text ? lineOf(where.text, d.path) : '';
      const msg = `${where.file}${line}: ${fieldName(d.path)}: ${d.text}`;
      if (!seen.has(msg)) problems.push(msg), seen.add(msg);
    }
    throw new ConfigError(problems);
  }
  const c = data as Record<string, any>;
  const problems: string[] = [];
  const names = new Set<string>();
  (c.destinations as { name: string }[]).forEach((d, i) => {
    if (names.has(d.name)) problems.push(`${where.file}: destinations[${i}].name: "${d.name}" is used twice`);
    names.add(d.name);
  });
  (c.routes as { destinations: string[] }[]).forEach((r, i) =>
    r.destinations.forEach((n, j) => {
      if (!names.has(n)) problems.push(`${where.file}: routes[${i}].destinations[${j}]: no destination is named "${n}" (known: ${[...names].join(', ') || 'none'})`);
    }),
  );
  ((c.lan.senders ?? []) as string[]).forEach((n, i) => {
    // The same names access.clients takes (so "__proto__" never becomes a key).
    if (!/^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,127}$/.test(n)) problems.push(withLine(`${where.file}: lan.senders[${i}]: ${JSON.stringify(n).slice(0, 80)} is not a certificate name (letters, digits and . _ @ : / -)`, where));
  });
  if (c.store.kind === 'postgres') {
    // The signing keys are files on each appliance: two nodes rotating on a schedule would each make their own.
    if (c.keys?.rotateCron !== undefined) problems.push(withLine(`${where.file}: keys.rotateCron: scheduled rotation is per appliance, and the gateways of a pair must sign with the same keys; on PostgreSQL rotate with \`darwaza keys rotate\` on one node and copy its certs folder to the others (docs/ha.md)`, where));
    if (c.store.url === undefined) problems.push(withLine(`${where.file}: store.url: required for kind "postgres" (postgres://user@host:port/database)`, where));
    else if (!/^postgres(ql)?:\/\//.test(c.store.url)) problems.push(withLine(`${where.file}: store.url: must start with postgres:// or postgresql://`, where));
  } else if (c.store.url !== undefined || c.store.pool !== undefined || c.store.nodeId !== undefined || c.store.leaseSeconds !== undefined) {
    problems.push(withLine(`${where.file}: store.url: only for kind "postgres"; the SQLite store lives in dataDir`, where));
  }
  const access = parseAccessConfig(c.access, where.file);
  if (!access.ok) {
    for (const e of access.errors) problems.push(withLine(e, where));
  }
  if (problems.length || !access.ok) throw new ConfigError(problems);
  const deprecations = foldSenders(access.access, c.lan.senders ?? [], where.file);

  const abs = (p: string) => (isAbsolute(p) ? p : resolve(where.baseDir, p));
  const hp = (field: string, v: string) => {
    try {
      return parseHostPort(v);
    } catch {
      throw new ConfigError([`${where.file}: ${field}: "${v}" is not HOST:PORT`]);
    }
  };
  return {
    file: where.file,
    organization: c.organization ?? 'demo-hospital',
    dataDir: abs(c.dataDir ?? './data'),
    certsDir: abs(c.certsDir ?? './certs'),
    store: c.store.kind === 'postgres' ? { kind: 'postgres', url: c.store.url, pool: c.store.pool ?? {}, nodeId: c.store.nodeId ?? hostNodeId(), leaseSeconds: c.store.leaseSeconds ?? 120 } : { kind: 'sqlite' },
    timezone: c.timezone ?? DEFAULT_TIMEZONE,
    defaultPurpose: c.defaultPurpose ?? 'TREAT',
    listen: {
      lan: hp('listen.lan', c.listen.lan),
      admin: hp('listen.admin', c.listen.admin),
      mllp: c.listen.mllp === null ? null : hp('listen.mllp', c.listen.mllp),
    },
    lan: c.lan,
    access: access.access,
    deprecations,
    limits: c.limits,
    policy: {
      ...c.policy,
      requireSigned: c.policy.requireSigned === true || c.requireSignedPolicies === true,
      path: abs(c.policy.path),
      profilesDir: abs(c.policy.profilesDir),
    },
    destinations: c.destinations.map((d: Record<string, any>) => ({
      ...d,
      tls: d.tls
        ? { ...d.tls, ca: d.tls.ca && abs(d.tls.ca), cert: d.tls.cert && abs(d.tls.cert), key: d.tls.key && abs(d.tls.key) }
        : undefined,
    })),
    routes: c.routes,
    mllp: c.mllp,
    audit: c.audit,
    keys: c.keys,
    dispatcher: c.dispatcher,
    simulator: { embedded: c.simulator.embedded, listen: hp('simulator.listen', c.simulator.listen) },
  } as GatewayConfig;
}

/** Reads and validates a config file. Throws ConfigError with plain messages. */
export function loadConfig(file: string): GatewayConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([`${path}: cannot read the config file (${code === 'ENOENT' ? 'it does not exist' : code})`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    let where = '';
    if (m) {
      const before = text.slice(0, Number(m[1]));
      const line = before.split('\n').length;
      const col = Number(m[1]) - before.lastIndexOf('\n');
      where = `:${line}:${col}`;
    }
    throw new ConfigError([`${path}${where}: not valid JSON (${(err as Error).message.replace(/ in JSON at position \d+.*$/, '')})`]);
  }
  return resolveConfig(raw, { file: path, text, baseDir: dirname(path) });
}

/** A gateway's default name in a pair: its host name (stable across restarts, so it recovers its own leases), as a node id. */
function hostNodeId(): string {
  return hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63) || 'node';
}
