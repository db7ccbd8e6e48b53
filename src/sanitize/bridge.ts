/**
 * The bridge to fhirpath.js: rule paths and generalize cases are evaluated by HL7's
 * FHIRPath engine on the working copy, and its result nodes (which carry parent,
 * property name and index) are mapped back to our typed nodes. `nodesByType` and
 * `nodesByName` are added as FHIRPath functions (userInvocationTable) that answer
 * from our per-resource index.
 */
import fhirpath from 'fhirpath';
import { getValue, R4, type Node, type ResourceNode } from './model.js';
import { ProfileError } from './profile.js';

export interface FpResNode {
  data: unknown;
  parentResNode: FpResNode | null;
  propName: string | null;
  index: number | null;
}
type ResNodeCtor = new (...args: unknown[]) => FpResNode;
const fpEvaluate = fhirpath.evaluate as unknown as (...a: unknown[]) => unknown[];
export const fpCompile = fhirpath.compile as unknown as (...a: unknown[]) => (data: unknown, env?: unknown) => unknown[];
const PROBE = fpEvaluate({ resourceType: 'Basic' }, 'Basic', null, R4, { resolveInternalTypes: false })[0] as FpResNode;
export const ResourceNodeCtor = (PROBE as unknown as { constructor: ResNodeCtor }).constructor;
export const PROBE_CTX = (PROBE as unknown as { ctx: unknown }).ctx;

/** The apply in progress (apply is synchronous, so one at a time). */
let active: { objMap: Map<unknown, Node> | null; root: ResourceNode } | null = null;

/** Runs `fn` with `root` as the tree FHIRPath results are mapped into. */
export function withTree<T>(root: ResourceNode, fn: () => T): T {
  const prev = active;
  active = { objMap: null, root };
  try {
    return fn();
  } finally {
    active = prev;
  }
}

function objMap(): Map<unknown, Node> {
  if (!active) throw new Error('internal: no apply in progress');
  if (!active.objMap) {
    const m = new Map<unknown, Node>();
    const add = (res: ResourceNode) => {
      m.set(res.obj, res);
      for (const list of res.byType.values()) for (const n of list) if (n.obj) m.set(n.obj, n);
      for (const s of res.subResources) add(s);
    };
    add(active.root);
    active.objMap = m;
  }
  return active.objMap;
}

export function resolveResNode(rn: FpResNode): Node | undefined {
  const d = rn.data;
  if (d !== null && typeof d === 'object') {
    const n = objMap().get(d);
    if (n) return n;
  }
  if (!rn.parentResNode) return undefined;
  const p = resolveResNode(rn.parentResNode);
  if (!p) return undefined;
  const idx = rn.index ?? -1;
  for (const c of p.children) if (c.primitive && c.name === rn.propName && c.index === idx) return c;
  return undefined;
}

function toResNode(ctx: unknown, n: Node, memo: Map<Node, FpResNode>): FpResNode {
  const hit = memo.get(n);
  if (hit) return hit;
  let r: FpResNode;
  if (!n.parent) r = new ResourceNodeCtor(ctx, n.obj, null, null, null, null);
  else {
    const parent = toResNode(ctx, n.parent, memo);
    const data = n.primitive ? getValue(n) : n.obj;
    r = new ResourceNodeCtor(ctx, data, parent, n.fpPath, n.primitive ? n.ext : null, n.fpType, n.name, n.index < 0 ? null : n.index);
  }
  memo.set(n, r);
  return r;
}

function selfAndDescendants(n: Node, out: Node[], pred: (x: Node) => boolean) {
  if (pred(n)) out.push(n);
  for (const c of n.children) {
    if (c.res === c) continue; // embedded resource
    selfAndDescendants(c, out, pred);
  }
}

const stringArg = (a: unknown): string => {
  const v = Array.isArray(a) ? a[0] : a;
  return String((v as { data?: unknown })?.data ?? v);
};

function nodesBy(kind: 'type' | 'name') {
  return {
    fn(this: unknown, inputs: FpResNode[], arg: unknown) {
      const want = stringArg(arg);
      const memo = new Map<Node, FpResNode>();
      const out: FpResNode[] = [];
      for (const i of inputs) {
        const n = resolveResNode(i);
        if (!n) continue;
        const found: Node[] = [];
        selfAndDescendants(n, found, kind === 'type' ? (x) => x.type === want : (x) => x.name === want);
        for (const f of found) out.push(toResNode(this, f, memo));
      }
      return out;
    },
    arity: { 1: ['String'] },
    internalStructures: true,
  };
}
const USER_FUNCTIONS = { nodesByType: nodesBy('type'), nodesByName: nodesBy('name') };

export function compilePath(expression: string, where: string) {
  try {
    return fpCompile(expression, R4, { resolveInternalTypes: false, userInvocationTable: USER_FUNCTIONS });
  } catch {
    throw new ProfileError(`${where}: FHIRPath expression does not parse`);
  }
}
