/**
 * substitute: replace an element's content with `replaceWith`, keeping what earlier
 * rules already processed inside it (Microsoft's "keep nodes" semantics).
 */
import { locationOf, setValue, type Node } from './model.js';
import { SanitizeError } from './errors.js';

const NUMERIC = new Set(['decimal', 'integer', 'positiveInt', 'unsignedInt']);

export function markVisited(n: Node) {
  for (const c of n.children) {
    if (c.res === c) continue;
    c.visited = true;
    markVisited(c);
  }
}

/** Nodes to keep during substitution: processed before, or holding something processed before. */
export function markKeep(n: Node, keep: Set<Node>): boolean {
  let k = false;
  for (const c of n.children) if (c.res !== c && markKeep(c, keep)) k = true;
  if (k || n.visited) {
    keep.add(n);
    return true;
  }
  return false;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function coercePrimitive(n: Node, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'object') return JSON.stringify(v);
  const s = String(v);
  if (n.type === 'boolean') return s === 'true' ? true : s === 'false' ? false : s;
  if (NUMERIC.has(n.type)) {
    const num = Number(s);
    return s.trim() !== '' && Number.isFinite(num) ? num : s;
  }
  return s;
}

function removeNode(c: Node) {
  if (c.res === c) return;
  if (c.primitive) {
    setValue(c, null);
    if (c.ext) for (const k of Object.keys(c.ext)) delete c.ext[k];
  } else if (c.obj) {
    for (const k of Object.keys(c.obj)) delete c.obj[k];
  }
}

/** Replaces n's content with `repl` (undefined: a dummy that only keeps what must be kept). */
export function substituteNode(n: Node, repl: unknown, keep: Set<Node>, ruleIndex: number) {
  if (n.visited) return;
  const r = n.primitive ? {} : repl === undefined ? {} : repl;
  if (!n.primitive && !isObj(r)) {
    throw new SanitizeError(`rule ${ruleIndex} (substitute): replaceWith does not fit ${locationOf(n)}`, ruleIndex, 'processing');
  }
  const rObj = r as Record<string, unknown>;
  const replKeys = Object.keys(rObj);
  for (const k of replKeys) {
    const targets = Array.isArray(rObj[k]) ? (rObj[k] as unknown[]) : [rObj[k]];
    const kids = n.children.filter((c) => c.key === k && c.res !== c);
    let i = 0;
    for (const c of kids) {
      if (c.visited) {
        i++;
        continue;
      }
      if (i < targets.length) substituteNode(c, targets[i++], keep, ruleIndex);
      else if (keep.has(c)) substituteNode(c, undefined, keep, ruleIndex);
      else removeNode(c);
    }
    const holder = n.obj!;
    while (i < targets.length) {
      const t = structuredClone(targets[i++]);
      const cur = holder[k];
      if (Array.isArray(cur)) cur.push(t);
      else if (cur === undefined || cur === null) holder[k] = Array.isArray(rObj[k]) ? [t] : t;
      else holder[k] = [cur, t];
    }
  }
  for (const c of n.children) {
    if (c.res === c || replKeys.includes(c.key) || c.visited) continue;
    if (keep.has(c)) substituteNode(c, undefined, keep, ruleIndex);
    else removeNode(c);
  }
  if (n.primitive) setValue(n, repl === undefined ? null : coercePrimitive(n, repl));
}
