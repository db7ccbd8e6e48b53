/**
 * Canonical JSON: the one byte form we sign and hash (envelopes, audit leaves,
 * tree heads). It is the RFC 8785 (JCS) subset that our values need:
 *
 * - object keys sorted by UTF-16 code units (JavaScript's default sort), no whitespace;
 * - strings escaped exactly as ECMAScript JSON.stringify does (RFC 8785 §3.2.2.2);
 * - numbers: finite only, serialized as ECMAScript Number#toString (RFC 8785 §3.2.2.3);
 *   -0 becomes 0;
 * - properties whose value is `undefined` are omitted (as JSON.stringify does);
 * - only null, booleans, numbers, strings, arrays and plain objects are accepted:
 *   anything else (undefined in an array, NaN, Infinity, BigInt, Date, Map, class
 *   instances, functions, symbols, cycles) throws a TypeError naming its path.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$', new Set());
}

function encode(value: unknown, path: string, stack: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is not a finite number`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: ${path} has unsupported type ${typeof value}`);
  }
  const obj = value as object;
  if (stack.has(obj)) throw new TypeError(`canonicalJson: ${path} is a cycle`);
  if (Array.isArray(obj)) {
    stack.add(obj);
    const parts: string[] = [];
    for (let i = 0; i < obj.length; i++) {
      const item = obj[i];
      if (item === undefined) throw new TypeError(`canonicalJson: ${path}[${i}] is undefined`);
      parts.push(encode(item, `${path}[${i}]`, stack));
    }
    stack.delete(obj);
    return `[${parts.join(',')}]`;
  }
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`canonicalJson: ${path} is not a plain object`);
  }
  stack.add(obj);
  const record = obj as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  const parts: string[] = [];
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${encode(item, `${path}.${key}`, stack)}`);
  }
  stack.delete(obj);
  return `{${parts.join(',')}}`;
}

/** canonicalJson as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new Uint8Array(Buffer.from(canonicalJson(value), 'utf8'));
}
