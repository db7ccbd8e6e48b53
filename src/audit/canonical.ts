/**
 * Canonical JSON (RFC 8785 style, for the value types audit entries use):
 * object keys sorted by UTF-16 code units, no whitespace, strings escaped as
 * JSON.stringify does (which is what RFC 8785 prescribes), numbers in their
 * ECMAScript shortest form. Non-finite numbers, undefined inside arrays,
 * functions, symbols and bigints are refused; undefined object members are
 * left out (as JSON does).
 *
 * NOTE for the lead: src/crypto is writing its own canonicalJson at the same
 * time; the two are meant to be the same function and should be unified.
 */
export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${path}: non-finite number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          if (v === undefined) throw new CanonicalJsonError(`${path}[${i}]: undefined in array`);
          out += (i ? ',' : '') + write(v, path);
        }
        return out + ']';
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort(); // default sort compares UTF-16 code units, as RFC 8785 asks
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        out += (first ? '' : ',') + JSON.stringify(k) + ':' + write(v, path);
        first = false;
      }
      return out + '}';
    }
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} is not a JSON value`);
  }
}
