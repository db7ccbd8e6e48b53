/**
 * A quick pass over a resource that answers "valid R4" only when it is sure, and otherwise
 * "ask medplum's validator" (never "invalid"). The validator stays the one authority: it decides
 * every resource this pass is unsure of, and writes every refusal's text. This pass exists for
 * speed alone: medplum's validator walks every element of the schema for every object (and
 * every candidate type of each choice element), which was about 45% of all the CPU a message
 * costs; this pass walks only the keys present.
 *
 * It reads the same indexed schemas (`getDataType`), the same primitive rules
 * (`fhirTypeToJsType`, `validationRegexes`) and evaluates the same invariants with the same
 * FHIRPath engine and variables as the validator, and it steps aside (returns false) at
 * everything it does not model exactly: a primitive extension (`_key`), a null, an empty value,
 * a second value for one choice element, a fixed or pattern value, slicing, an unknown type, a
 * value of an unexpected JSON shape, or any finding at all. test/fhir/quick-structure.test.ts
 * holds it to the validator over real bundles and thousands of mutations: whenever this pass
 * says valid, the validator must agree.
 */
import {
  evalFhirPathTyped,
  fhirTypeToJsType,
  parseFhirPath,
  toTypedValue,
  tryGetDataType,
  validationRegexes,
  UCUM,
  type InternalSchemaElement,
  type InternalTypeSchema,
  type TypedValue,
} from '@medplum/core';

type Json = Record<string, unknown>;
type FhirPathAtom = ReturnType<typeof parseFhirPath>;

/** Invariants the validator does not check (its own list): they are not checked here either. */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);
const JS_TYPE = fhirTypeToJsType as Record<string, 'string' | 'number' | 'boolean'>;
const MAX_STRING = 1024 * 1024;

/** A key of an object of one type: its element, and the type code the key fixes (choice elements). */
interface KeyRule {
  element: InternalSchemaElement;
  /** The element's name in the schema (`value[x]` for `valueQuantity`). */
  name: string;
  type: string;
  choice: boolean;
}

interface TypeRules {
  keys: Map<string, KeyRule>;
  /** The schema has something this pass does not model (a dotted element key). */
  unsure: boolean;
}

const rulesByType = new WeakMap<InternalTypeSchema, TypeRules>();

const capitalize = (s: string) => (s ? s[0]!.toUpperCase() + s.slice(1) : s);

function rulesOf(schema: InternalTypeSchema): TypeRules {
  let rules = rulesByType.get(schema);
  if (rules) return rules;
  const keys = new Map<string, KeyRule>();
  let unsure = false;
  for (const [name, element] of Object.entries(schema.elements)) {
    if (name.includes('.')) unsure = true;
    if (name.endsWith('[x]')) {
      const stem = name.slice(0, -3);
      for (const t of element.type) keys.set(stem + capitalize(t.code), { element, name, type: t.code, choice: true });
    } else if (element.type.length === 1) {
      keys.set(name, { element, name, type: element.type[0]!.code, choice: false });
    } else {
      unsure = true;
    }
  }
  rules = { keys, unsure };
  rulesByType.set(schema, rules);
  return rules;
}

const parsed = new Map<string, FhirPathAtom>();
function atomOf(expression: string): FhirPathAtom {
  let atom = parsed.get(expression);
  if (!atom) {
    atom = parseFhirPath(expression);
    parsed.set(expression, atom);
  }
  return atom;
}

const ucum: TypedValue = toTypedValue(UCUM);

class Unsure extends Error {}
const unsure = (): never => {
  throw new Unsure();
};

/** True only when the validator would find no error in `resource` (base R4, no profile). */
export function surelyValidR4(resource: unknown): boolean {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) return false;
  const type = (resource as Json).resourceType;
  if (typeof type !== 'string') return false;
  const schema = tryGetDataType(type);
  if (!schema) return false;
  const root: TypedValue = { type, value: resource };
  const walk = new Walk(root);
  try {
    walk.constraints(root, schema.constraints);
    walk.object(resource as Json, schema);
    return true;
  } catch (err) {
    if (err instanceof Unsure) return false;
    throw err;
  }
}

class Walk {
  /** The resources we are inside, innermost last (%resource). */
  private readonly resources: TypedValue[];
  constructor(private readonly root: TypedValue) {
    this.resources = [root];
  }

  object(obj: Json, schema: InternalTypeSchema): void {
    const rules = rulesOf(schema);
    if (rules.unsure) unsure();
    const isResource = typeof obj.resourceType === 'string';
    let choicesSeen: Set<string> | undefined;
    for (const key in obj) {
      // The validator skips this key in every object; an object typed otherwise that carries it is left to the validator.
      if (key === 'resourceType') {
        if (!isResource || schema.kind !== 'resource') unsure();
        continue;
      }
      const rule = rules.keys.get(key);
      if (!rule) unsure(); // an unknown element, or a primitive extension (`_key`)
      if (rule!.choice) {
        choicesSeen ??= new Set();
        if (choicesSeen.has(rule!.name)) unsure();
        choicesSeen.add(rule!.name);
      }
      this.property(obj[key], rule!);
    }
  }

  private property(value: unknown, rule: KeyRule): void {
    const { element } = rule;
    if (element.slicing || element.fixed || element.pattern) unsure();
    if (value === null || value === undefined) unsure();
    if (Array.isArray(value)) {
      if (!element.isArray || value.length === 0 || value.length < element.min || value.length > element.max) unsure();
      for (const item of value) this.value(item, rule);
    } else {
      if (element.isArray || element.min > 1) unsure();
      this.value(value, rule);
    }
  }

  private value(value: unknown, rule: KeyRule): void {
    if (value === null || value === undefined || value === '' || Array.isArray(value)) unsure();
    const jsType = JS_TYPE[rule.type];
    if (jsType) {
      if (typeof value !== jsType) unsure();
      if (jsType === 'string') checkString(value as string, rule.type);
      else if (jsType === 'number') checkNumber(value as number, rule.type);
      this.constraints({ type: rule.type, value }, rule.element.constraints);
      return;
    }
    if (typeof value !== 'object') unsure();
    const obj = value as Json;
    let empty = true;
    for (const _ in obj) {
      empty = false;
      break;
    }
    if (empty) unsure();
    let type = rule.type;
    const nested = type === 'Resource' || typeof obj.resourceType === 'string';
    if (nested) {
      if (type !== 'Resource' || typeof obj.resourceType !== 'string') unsure();
      type = obj.resourceType as string;
    }
    const schema = tryGetDataType(type);
    if (!schema || schema.name === 'Element' || schema.name === 'BackboneElement') unsure();
    const typed: TypedValue = { type, value };
    this.constraints(typed, rule.element.constraints);
    if (nested) this.resources.push(typed);
    this.object(obj, schema!);
    if (nested) this.resources.pop();
  }

  constraints(value: TypedValue, constraints: InternalSchemaElement['constraints']): void {
    if (!constraints) return;
    for (const c of constraints) {
      if (c.severity !== 'error' || SKIPPED_CONSTRAINTS.has(c.key)) continue;
      const variables: Record<string, TypedValue> = { '%context': value, '%ucum': ucum, '%resource': this.resources[this.resources.length - 1]!, '%rootResource': this.root };
      let result: TypedValue[];
      try {
        result = evalFhirPathTyped(atomOf(c.expression), [value], variables);
      } catch {
        unsure();
      }
      if (result!.length !== 1 || result![0]!.value !== true) unsure();
    }
  }
}

function checkString(s: string, type: string): void {
  if (s.length > MAX_STRING || !s.trim()) unsure();
  const regex = validationRegexes[type];
  if (regex && !regex.test(s)) unsure();
}

function checkNumber(n: number, type: string): void {
  if (!Number.isFinite(n)) unsure();
  if ((type === 'integer' || type === 'positiveInt' || type === 'unsignedInt') && !Number.isInteger(n)) unsure();
  if (type === 'positiveInt' && n <= 0) unsure();
  if (type === 'unsignedInt' && n < 0) unsure();
}

/** A finding of the choice check: the element's path and what is wrong (never the value). */
export interface ChoiceFinding {
  path: string;
  text: string;
}

/**
 * What medplum's validator lets through about choice elements (`value[x]`), found by walking the
 * keys present:
 * - a key that starts like a choice element but names no type of it (`effectiveHiddenName` beside
 *   `effectiveDateTime`): the validator reads it as a second value of `effective[x]`, warns, and
 *   checks nothing in it, so it could carry any text past validation;
 * - two values of one choice element (`valueQuantity` and `valueString`): R4 allows one, and the
 *   validator checks only the first it finds.
 * Both are refused (src/fhir/structure.ts adds them to the validator's findings).
 */
export function choiceFindings(resource: unknown, limit = 20): ChoiceFinding[] {
  const out: ChoiceFinding[] = [];
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) return out;
  const type = (resource as Json).resourceType;
  const schema = typeof type === 'string' ? tryGetDataType(type) : undefined;
  if (schema) walkChoices(resource as Json, schema, type as string, out, limit);
  return out;
}

function walkChoices(obj: Json, schema: InternalTypeSchema, path: string, out: ChoiceFinding[], limit: number): void {
  const rules = rulesOf(schema);
  const seen = new Map<string, string>();
  for (const key in obj) {
    if (out.length >= limit) return;
    if (key === 'resourceType') continue;
    const plain = key.startsWith('_') ? key.slice(1) : key;
    const rule = rules.keys.get(plain);
    if (!rule) {
      // Without a real value of that choice element beside it, the validator refuses the key itself.
      const choice = choicePrefixOf(plain, schema);
      if (choice && hasValueOf(obj, choice, rules)) out.push({ path: `${path}.${key}`, text: `${path}.${key} is not an element of FHIR R4 (not one of the types of ${choice})` });
      continue;
    }
    if (rule.choice && !key.startsWith('_')) {
      const first = seen.get(rule.name);
      if (first !== undefined) out.push({ path: `${path}.${key}`, text: `${path}.${key}: ${rule.name} may have one value, and ${path}.${first} is already one` });
      else seen.set(rule.name, key);
    }
    if (key.startsWith('_') || JS_TYPE[rule.type]) continue;
    const value = obj[key];
    const items = Array.isArray(value) ? value : [value];
    items.forEach((item, i) => {
      if (!item || typeof item !== 'object' || Array.isArray(item)) return;
      const itemType = rule.type === 'Resource' ? (item as Json).resourceType : rule.type;
      const itemSchema = typeof itemType === 'string' ? tryGetDataType(itemType) : undefined;
      if (!itemSchema) return;
      walkChoices(item as Json, itemSchema, Array.isArray(value) ? `${path}.${key}[${i}]` : `${path}.${key}`, out, limit);
    });
  }
}

function hasValueOf(obj: Json, choice: string, rules: TypeRules): boolean {
  for (const [key, rule] of rules.keys) if (rule.name === choice && (obj[key] !== undefined || obj[`_${key}`] !== undefined)) return true;
  return false;
}

/** The choice element (`effective[x]`) whose stem begins `key` at a capital letter, as the validator matches them. */
function choicePrefixOf(key: string, schema: InternalTypeSchema): string | undefined {
  for (let i = 1; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    if (ch < 65 || ch > 90) continue;
    const name = `${key.slice(0, i)}[x]`;
    if (schema.elements[name]) return name;
  }
  return undefined;
}
