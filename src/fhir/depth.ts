/**
 * Nesting depth measured over the raw bytes, before JSON.parse: a deeply nested body
 * (8 MB of `[`) costs seconds to parse and walk, and refusing it needs only one pass
 * that counts `[` and `{` outside strings. The JSON itself is not checked here; the
 * parser still does that for bodies this lets through.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * True when the bytes nest arrays and objects deeper than `maxDepth` (the same measure as
 * nestingDepthExceeds: the outermost object is level 1). Stops at the first byte past
 * the limit, so a hostile body costs at most one pass up to that point.
 */
export function bytesNestDeeper(bytes: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (b === QUOTE) inString = true;
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > maxDepth) return true;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) depth--;
  }
  return false;
}
