/**
 * Reading a policy file: YAML (JSON is YAML too) with line/column positions, checked
 * against schemas/policy.schema.json. Every problem becomes a finding with
 * file:line:column and a plain message; nothing here throws on bad input.
 */
import { createHash } from 'node:crypto';
import ajvModule, { type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document, type Node } from 'yaml';
import schema from '../../schemas/policy.schema.json' with { type: 'json' };
import type { LintFinding, PolicyFile } from './types.js';

// ajv is CommonJS: under NodeNext its class is the default export at run time, `.default` in the types.
const AjvClass = ((ajvModule as unknown as { default?: unknown }).default ?? ajvModule) as typeof ajvModule.default;
const ajv = new AjvClass({ allErrors: true, strict: false, verbose: true });
const validate = ajv.compile(schema as object);

export const POLICY_SCHEMA = schema;

/** The bytes that are hashed and signed: UTF-8, no BOM, LF line ends. */
export function canonicalBytes(text: string | Uint8Array): Buffer {
  let s = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  return Buffer.from(s.replace(/\r\n?/g, '\n'), 'utf8');
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export interface ParsedPolicy {
  value: PolicyFile | undefined;
  findings: LintFinding[];
  /** Where a JSON-pointer path sits in the file (1-based). */
  position: (path: Array<string | number>, key?: boolean) => { line: number; column: number };
  doc: Document | undefined;
}

function positionIn(doc: Document, lc: LineCounter) {
  return (path: Array<string | number>, key = false) => {
    let node: unknown = doc.contents;
    let keyNode: Node | undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        keyNode = pair.key as Node;
        node = pair.value;
      } else if (node && typeof node === 'object' && 'items' in node && Array.isArray((node as { items: unknown[] }).items)) {
        const item = (node as { items: unknown[] }).items[Number(seg)];
        if (item === undefined) break;
        keyNode = undefined;
        node = item;
      } else break;
    }
    const target = (key && keyNode ? keyNode : (node as Node | undefined)) ?? keyNode;
    const offset = target?.range?.[0] ?? 0;
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  };
}

/** "rules/3/when/purpose" → 'rule "id" when.purpose', so a reader finds it by name. */
const fieldName = (path: string) => {
  const parts = path.split('/').filter(Boolean);
  if (!parts.length) return 'the top of the file';
  if (parts[0] === 'rules' && parts.length >= 2) {
    const rule = (currentValue as { rules?: Array<{ id?: unknown }> })?.rules?.[Number(parts[1])];
    const name = typeof rule?.id === 'string' ? `rule "${rule.id}"` : `rule ${Number(parts[1]) + 1}`;
    return parts.length > 2 ? `${parts.slice(2).join('.')} of ${name}` : name;
  }
  return parts.join('.');
};

const REQUIRED_HINT: Record<string, string> = {
  source: 'every rule must cite its source (a law and section, or "inferred" with the reasoning)',
  status: 'say whether the rule is law, draft, guidance or inferred',
  description: 'say in plain words what the rule does',
  when: 'write the conditions (an empty "when: {}" matches everything)',
  then: 'say what the rule decides (effect and/or obligations)',
  combining: 'write "combining: deny-overrides" so readers know how rules combine',
  default: 'write "default: deny" (when no rule permits, the answer is deny)',
};

/** Turn ajv's errors into plain findings, keeping the most specific error of each place. */
function schemaFindings(errors: ErrorObject[], file: string, pos: ParsedPolicy['position']): LintFinding[] {
  // anyOf alternatives produce one error per branch: a summary is dropped when something
  // more specific was said about the same place or below it.
  const out: LintFinding[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const path = e.instancePath.split('/').filter(Boolean).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let message: string;
    let code = 'bad-value';
    let at = pos(path);
    // Something more specific than an anyOf summary: an error below it, or a non-type error at it.
    const deeper = errors.some(
      (o) =>
        o !== e &&
        (o.instancePath.startsWith(e.instancePath + '/') ||
          (o.instancePath === e.instancePath && o.keyword !== 'type' && o.keyword !== 'anyOf' && !(o.keyword === 'enum' && typeof valueAt(o) !== 'string'))),
    );
    switch (e.keyword) {
      case 'additionalProperties': {
        const name = (e.params as { additionalProperty: string }).additionalProperty;
        const allowed = Object.keys(
          ((e.parentSchema as { properties?: Record<string, unknown> })?.properties ?? {}) as object,
        );
        code = 'unknown-field';
        at = pos([...path, name], true);
        message = `unknown field "${name}" in ${fieldName(e.instancePath)}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
        break;
      }
      case 'required': {
        const name = (e.params as { missingProperty: string }).missingProperty;
        code = 'missing-field';
        message = `missing "${name}" in ${fieldName(e.instancePath)}${REQUIRED_HINT[name] ? `: ${REQUIRED_HINT[name]}` : ''}`;
        break;
      }
      case 'enum': {
        // An enum error about a list or map is the string branch of an anyOf: noise.
        if (typeof valueAt(e) !== 'string' && typeof valueAt(e) !== 'number') continue;
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
        message = `unknown value ${JSON.stringify(valueAt(e))} for ${fieldName(e.instancePath)} (known: ${allowed.join(', ')})`;
        code = 'unknown-value';
        break;
      }
      case 'const':
        message = `${fieldName(e.instancePath)} must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
        break;
      case 'anyOf':
      case 'oneOf':
        if (deeper) continue;
        message = `${fieldName(e.instancePath)} must be a value, a list of values, or { not: [values] }`;
        break;
      case 'type':
        if (errors.some((o) => o.keyword === 'anyOf' && e.instancePath === o.instancePath)) continue;
        message = `${fieldName(e.instancePath)} must be ${(e.params as { type: string }).type}`;
        break;
      default:
        message = `${fieldName(e.instancePath)} ${e.message ?? 'is not valid'}`;
    }
    const k = `${at.line}:${at.column}:${message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ file, ...at, severity: 'error', code, message });
  }
  return out;
}

let currentValue: unknown;
function valueAt(e: ErrorObject): unknown {
  let v: unknown = currentValue;
  for (const seg of e.instancePath.split('/').filter(Boolean)) v = (v as Record<string, unknown>)?.[seg];
  return v;
}

/** Parse and schema-check one policy text. */
export function parsePolicyText(text: string, file: string): ParsedPolicy {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const position = positionIn(doc, lc);
  const findings: LintFinding[] = [];
  for (const err of doc.errors) {
    const p = err.linePos?.[0] ?? lc.linePos(err.pos[0]);
    const first = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    findings.push({ file, line: p.line, column: p.col, severity: 'error', code: 'yaml', message: `bad YAML: ${first}` });
  }
  if (findings.length) return { value: undefined, findings, position, doc };
  const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    findings.push({ file, line: 1, column: 1, severity: 'error', code: 'bad-value', message: 'a policy file must be a mapping (field: value) at the top' });
    return { value: undefined, findings, position, doc };
  }
  currentValue = value;
  if (!validate(value)) findings.push(...schemaFindings(validate.errors ?? [], file, position));
  currentValue = undefined;
  return { value: findings.length ? undefined : (value as PolicyFile), findings, position, doc };
}
