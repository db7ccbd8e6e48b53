/**
 * What leaves apply: meta.security labels per resource, the copy pruned of emptied
 * elements, and the list of changes (paths worked out lazily, never values).
 */
import type { Method } from './profile.js';
import { locationOf, type Node, type ResourceNode } from './model.js';

export type Operation = 'redacted' | 'abstracted' | 'hashed' | 'encrypted' | 'perturbed' | 'substituted' | 'generalized' | 'scrubbed' | 'emptied';

/** What made a change: a rule's method, the free-text scanner, or allow-list mode removing what no rule kept. */
export type ChangeMethod = Method | 'freeText' | 'allowList';

/** One change, without values: where and how. */
export interface Change {
  path: string;
  method: ChangeMethod | 'processingErrors';
  operation: Operation;
}

// Operation bit flags, in the order labels are added (as Microsoft's engine does).
export const F = { redact: 1, abstract: 2, hash: 4, encrypt: 8, perturb: 16, substitute: 32, generalize: 64 } as const;
const OBS = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
export const LABELS: Array<[number, { system?: string; code: string; display: string }]> = [
  [F.redact, { system: OBS, code: 'REDACTED', display: 'redacted' }],
  [F.abstract, { system: OBS, code: 'ABSTRED', display: 'abstracted' }],
  [F.hash, { system: OBS, code: 'CRYTOHASH', display: 'cryptographic hash function' }],
  [F.encrypt, { system: OBS, code: 'MASKED', display: 'masked' }],
  [F.perturb, { code: 'PERTURBED', display: 'exact value is replaced with another exact value' }],
  [F.substitute, { code: 'SUBSTITUTED', display: 'exact value is replaced with a predefined value' }],
  [F.generalize, { code: 'GENERALIZED', display: 'exact value is replaced with a general value' }],
];
const OP_NAME: Record<number, Operation> = {
  [F.redact]: 'redacted', [F.abstract]: 'abstracted', [F.hash]: 'hashed', [F.encrypt]: 'encrypted',
  [F.perturb]: 'perturbed', [F.substitute]: 'substituted', [F.generalize]: 'generalized',
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function addLabels(res: ResourceNode) {
  for (const s of res.subResources) addLabels(s);
  if (res.contained || res.flags === 0) return;
  const obj = res.obj!;
  let meta = obj.meta as Record<string, unknown> | undefined;
  if (!isObj(meta)) {
    meta = {};
    obj.meta = meta; // the copy kept a place for it after id (model.ts)
  }
  let sec = meta.security as Array<Record<string, unknown>> | undefined;
  if (!Array.isArray(sec)) sec = meta.security = [];
  for (const [flag, coding] of LABELS) {
    if (!(res.flags & flag)) continue;
    if (sec.some((c) => c && typeof c.code === 'string' && c.code.toUpperCase() === coding.code)) continue;
    sec.push({ ...coding });
  }
}

/** Removes elements left without value or children (never a resource). Returns true if obj is empty. */
export function prune(obj: Record<string, unknown>, isResource: boolean): boolean {
  for (const key of Object.keys(obj)) {
    if (!(key in obj)) continue;
    if (key === 'resourceType' && isResource) continue;
    let base = key;
    if (key.charCodeAt(0) === 95) {
      base = key.slice(1);
      if (obj[base] !== undefined && obj[base] !== null) continue; // handled with its value
    }
    const v = obj[base];
    const e = obj[`_${base}`];
    if (Array.isArray(v) || Array.isArray(e)) {
      pruneArray(obj, base);
      continue;
    }
    if (isObj(v)) {
      if (prune(v, typeof v.resourceType === 'string')) delete obj[base];
      continue;
    }
    // primitive (or null) with optional _base object
    let extAlive = false;
    if (isObj(e)) {
      extAlive = !prune(e, false);
      if (!extAlive) delete obj[`_${base}`];
    } else if (e !== undefined) delete obj[`_${base}`];
    if (v === null || v === undefined) delete obj[base];
  }
  for (const k in obj) if (k !== 'resourceType' || !isResource) return false;
  return !isResource;
}

function pruneArray(obj: Record<string, unknown>, base: string) {
  const v = obj[base];
  const e = obj[`_${base}`];
  const vals = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  const exts = Array.isArray(e) ? e : isObj(e) ? [e] : [];
  const n = Math.max(vals.length, exts.length);
  const outV: unknown[] = [];
  const outE: unknown[] = [];
  let anyE = false;
  for (let i = 0; i < n; i++) {
    let val = vals[i];
    let ext = exts[i];
    if (isObj(ext) && prune(ext, false)) ext = null;
    if (isObj(val)) {
      if (prune(val, typeof val.resourceType === 'string')) val = null;
    }
    const hasV = val !== null && val !== undefined;
    const hasE = isObj(ext);
    if (!hasV && !hasE) continue;
    outV.push(hasV ? val : null);
    outE.push(hasE ? ext : null);
    if (hasE) anyE = true;
  }
  if (outV.length === 0) {
    delete obj[base];
    delete obj[`_${base}`];
    return;
  }
  // the values array stays, with nulls where only an extension is left, aligned with _base
  obj[base] = outV;
  if (anyE) obj[`_${base}`] = outE;
  else delete obj[`_${base}`];
}

/** A change's path is worked out only when someone reads it (the hot path rarely does). */
export function lazyChanges(log: Array<[Node, ChangeMethod, number]>): Change[] {
  return log.map(([n, method, flag]) => {
    let path: string | undefined;
    return {
      get path() {
        return (path ??= locationOf(n));
      },
      method,
      operation: method === 'freeText' ? 'scrubbed' : OP_NAME[flag],
      toJSON() {
        return { path: this.path, method: this.method, operation: this.operation };
      },
    } as Change;
  });
}
