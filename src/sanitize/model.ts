/**
 * The typed view of a FHIR R4 JSON resource that the rules work on.
 *
 * One walk copies the input (so apply never mutates its argument) and, while it
 * copies, makes one Node per element with its FHIR type, its FHIRPath model path
 * and its place in the copy (holder object, JSON key, array index). Each resource
 * (the root, contained ones, Bundle entries) gets its own index of nodes by type
 * and by name, so `nodesByType('X')` is a lookup, not a walk.
 *
 * Types come from fhirpath's R4 model (path2Type, choiceTypePaths,
 * pathsDefinedElsewhere, path2Repeating), computed the way fhirpath.js navigates,
 * so a node found by our index and one found by a FHIRPath expression agree.
 * Element types follow the FHIR (Firely) instance types Microsoft's anonymizer
 * matches on: Resource.id is `id`, Element.id `string`, Extension.url `uri`.
 */
import r4 from 'fhirpath/fhir-context/r4/index.js';

interface R4Model {
  path2Type: Record<string, string>;
  path2TypeWithoutElements: Record<string, string>;
  choiceTypePaths: Record<string, string[]>;
  pathsDefinedElsewhere: Record<string, string>;
  path2Repeating: Record<string, boolean>;
  type2Parent: Record<string, string>;
}

export const R4 = r4 as unknown as R4Model;

export const PRIMITIVE_TYPES = new Set([
  'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant', 'integer',
  'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid', 'xhtml',
]);

/** Quantity-like types (perturb works on their `value`). */
export const QUANTITY_TYPES = new Set(['Quantity', 'Age', 'Count', 'Duration', 'Distance', 'Money', 'MoneyQuantity', 'SimpleQuantity']);

const isResourceType = (t: string): boolean => {
  let p: string | undefined = t;
  for (let i = 0; p && i < 4; i++) {
    if (p === 'Resource' || p === 'DomainResource') return true;
    p = R4.type2Parent[p];
  }
  return false;
};

export interface ChildInfo {
  /** FHIR element name (choice elements: the base name, e.g. `value`). */
  name: string;
  /** fhirpath's path of the element (e.g. `Observation.valueQuantity`, `HumanName.family`). */
  elementPath: string;
  /** fhirpath's `path` for the node itself (a type name, or a backbone path). */
  fpPath: string | null;
  /** fhirpath's data type for the node (`path2Type`). */
  fpType: string | null;
  /** FHIR instance type (`date`, `HumanName`, `Resource` for embedded resources, `unknown`). */
  type: string;
  repeating: boolean;
  primitive: boolean;
}

const infoCache = new Map<string | null, Map<string, ChildInfo>>();
/** Primitives without id/extension share this (never pushed to: the ext walk makes its own array). */
const NO_CHILDREN: Node[] = [];

const uncap = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

function fhirTypeOf(fpType: string | undefined, key: string, parentFpPath: string): string {
  if (!fpType) return 'unknown';
  if (fpType.startsWith('System.')) {
    if (key === 'id') return isResourceType(parentFpPath) ? 'id' : 'string';
    if (key === 'url') return 'uri';
    return uncap(fpType.slice(7));
  }
  return fpType;
}

/** What the model says about JSON key `key` of an element whose fhirpath path is `parentFpPath`. */
export function childInfo(parentFpPath: string | null, key: string): ChildInfo {
  let byKey = infoCache.get(parentFpPath);
  if (!byKey) infoCache.set(parentFpPath, (byKey = new Map()));
  const hit = byKey.get(key);
  if (hit) return hit;
  let info: ChildInfo;
  if (parentFpPath === null) {
    info = { name: key, elementPath: key, fpPath: null, fpType: null, type: 'unknown', repeating: false, primitive: false };
  } else if (key === 'extension' || key === 'modifierExtension') {
    const elementPath = `${parentFpPath}.${key}`;
    info = { name: key, elementPath, fpPath: 'Extension', fpType: 'Extension', type: 'Extension', repeating: true, primitive: false };
  } else {
    let name = key;
    let elementPath = `${parentFpPath}.${key}`;
    elementPath = R4.pathsDefinedElsewhere[elementPath] ?? elementPath;
    let fpType: string | undefined;
    {
      // choice element first: valueQuantity is element `value` of type Quantity
      for (let i = 1; i < key.length; i++) {
        const ch = key.charCodeAt(i);
        if (ch < 65 || ch > 90) continue;
        let base = `${parentFpPath}.${key.slice(0, i)}`;
        base = R4.pathsDefinedElsewhere[base] ?? base;
        const choices = R4.choiceTypePaths[base];
        if (choices && choices.includes(key.slice(i))) {
          name = key.slice(0, i);
          elementPath = base + key.slice(i);
          fpType = R4.path2Type[elementPath] ?? (PRIMITIVE_TYPES.has(uncap(key.slice(i))) ? uncap(key.slice(i)) : key.slice(i));
          break;
        }
      }
    }
    if (fpType === undefined) fpType = R4.path2Type[elementPath];
    const type = fhirTypeOf(fpType, key, parentFpPath);
    const fpPath = fpType === undefined ? null : (R4.path2TypeWithoutElements[elementPath] ?? elementPath);
    const repeating = R4.path2Repeating[elementPath] === true;
    info = {
      name,
      elementPath,
      fpPath,
      fpType: fpType ?? null,
      type: type === 'Element' ? 'Element' : type,
      repeating,
      primitive: PRIMITIVE_TYPES.has(type),
    };
  }
  byKey.set(key, info);
  return info;
}

/** One element of the working copy. */
export interface Node {
  name: string;
  key: string;
  /** Array index in the holder's key, or -1. */
  index: number;
  /** The JSON object that holds this element under `key` (for id/extension of a primitive: its `_key` object). */
  holder: Record<string, unknown>;
  type: string;
  elementPath: string;
  fpPath: string | null;
  fpType: string | null;
  primitive: boolean;
  /** The element's object (complex elements and resources). */
  obj: Record<string, unknown> | null;
  /** For primitives: the `_key` object with id/extension, if any. */
  ext: Record<string, unknown> | null;
  parent: Node | null;
  children: Node[];
  /** The resource this element belongs to (a resource node's res is itself). */
  res: ResourceNode;
  visited: boolean;
}

export interface ResourceNode extends Node {
  resourceType: string;
  /** True for `contained` resources (their labels go to the containing resource). */
  contained: boolean;
  byType: Map<string, Node[]>;
  /** Use byName(res): built lazily. */
  byName: Map<string, Node[]> | null;
  /** Resources inside this one (contained, Bundle entries), in document order. */
  subResources: ResourceNode[];
  /** Operations applied to this resource and the ones inside it (bit flags). */
  flags: number;
}

export function getValue(n: Node): unknown {
  const v = n.holder[n.key];
  return n.index < 0 ? v : Array.isArray(v) ? v[n.index] : undefined;
}

export function setValue(n: Node, value: unknown): void {
  if (n.index < 0) n.holder[n.key] = value;
  else {
    let arr = n.holder[n.key] as unknown[] | undefined;
    if (!Array.isArray(arr)) {
      arr = [];
      n.holder[n.key] = arr;
    }
    arr[n.index] = value;
  }
}

function addToIndex(res: ResourceNode, n: Node) {
  let l = res.byType.get(n.type);
  if (!l) res.byType.set(n.type, (l = []));
  l.push(n);
}

/** Nodes of a resource by element name (built on first use: few profiles use nodesByName). */
export function byName(res: ResourceNode): Map<string, Node[]> {
  if (res.byName) return res.byName;
  const m = new Map<string, Node[]>();
  for (const list of res.byType.values()) {
    for (const n of list) {
      let l = m.get(n.name);
      if (!l) m.set(n.name, (l = []));
      l.push(n);
    }
  }
  res.byName = m;
  return m;
}

/** Thrown when the input is not a FHIR resource we can walk (names the element, never its value). */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Copies `input` and builds its typed nodes. Returns the copy's root resource node.
 */
export function buildTree(input: unknown): ResourceNode {
  if (!isObj(input) || typeof input.resourceType !== 'string' || input.resourceType === '') {
    throw new InvalidInputError('input is not a FHIR resource (no resourceType)');
  }
  const holder: Record<string, unknown> = {};
  const root = makeResource(input, holder, input.resourceType, -1, null, false);
  return root;
}

function makeResource(
  src: Record<string, unknown>,
  holder: Record<string, unknown>,
  key: string,
  index: number,
  parent: Node | null,
  contained: boolean,
): ResourceNode {
  const rt = src.resourceType as string;
  const copy: Record<string, unknown> = {};
  const res = {
    name: parent ? key : rt,
    key,
    index,
    holder,
    type: rt,
    elementPath: rt,
    fpPath: rt,
    fpType: rt,
    primitive: false,
    obj: copy,
    ext: null,
    parent,
    children: [],
    visited: false,
    resourceType: rt,
    contained,
    byType: new Map(),
    byName: null,
    subResources: [],
    flags: 0,
  } as unknown as ResourceNode;
  res.res = res;
  if (index < 0) holder[key] = copy;
  else (holder[key] as unknown[])[index] = copy;
  walkObject(src, copy, res, res);
  return res;
}

function walkObject(src: Record<string, unknown>, dst: Record<string, unknown>, node: Node, res: ResourceNode) {
  const fpPath = node.fpPath;
  for (const key of Object.keys(src)) {
    if (key === '__proto__') continue; // never a FHIR element; assigning it would swap the copy's prototype
    const value = src[key];
    if (key === 'resourceType' && node === res) {
      dst[key] = value;
      if (!('meta' in src)) {
        // a place for meta.security right after id, filled only if labels are added
        if ('id' in src && !('id' in dst)) dst.id = undefined;
        dst.meta = undefined;
      }
      continue;
    }
    if (key.charCodeAt(0) === 95 /* _ */) {
      const base = key.slice(1);
      if (src[base] !== undefined && src[base] !== null) continue; // handled with its value
      // only the _x part is present
      const info = fpPath === null ? childInfo(null, base) : childInfo(fpPath, base);
      walkPrimitive(info, base, undefined, value, dst, node, res);
      continue;
    }
    if (value === null || value === undefined) continue;
    const info = childInfo(fpPath, key);
    const looksPrimitive = typeof value !== 'object' || (Array.isArray(value) && value.every((v) => v === null || typeof v !== 'object'));
    if (info.primitive || (info.type === 'unknown' && looksPrimitive)) {
      if (!looksPrimitive) {
        throw new InvalidInputError(`element ${node.elementPath}.${key} should hold a ${info.type} value`);
      }
      walkPrimitive(info, key, value, src[`_${key}`], dst, node, res);
      continue;
    }
    // complex (or embedded resource)
    const list = Array.isArray(value) ? value : [value];
    const asArray = Array.isArray(value) || info.repeating;
    const arr: unknown[] | null = asArray ? new Array(list.length) : null;
    if (arr) dst[key] = arr;
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      if (!isObj(item)) {
        if (item === null && arr) continue;
        throw new InvalidInputError(`element ${node.elementPath}.${key} should hold objects`);
      }
      const idx = arr ? i : -1;
      if (typeof item.resourceType === 'string' && (info.type === 'Resource' || info.type === 'unknown')) {
        const sub = makeResource(item, dst, key, idx, node, key === 'contained');
        sub.name = info.name;
        node.children.push(sub);
        addToIndex(res, sub);
        res.subResources.push(sub);
        continue;
      }
      const copy: Record<string, unknown> = {};
      if (arr) arr[i] = copy;
      else dst[key] = copy;
      const child: Node = {
        name: info.name,
        key,
        index: idx,
        holder: dst,
        type: info.type,
        elementPath: info.elementPath,
        fpPath: info.fpPath,
        fpType: info.fpType,
        primitive: false,
        obj: copy,
        ext: null,
        parent: node,
        children: [],
        res,
        visited: false,
      };
      node.children.push(child);
      addToIndex(res, child);
      walkObject(item, copy, child, res);
    }
  }
}

function walkPrimitive(
  info: ChildInfo,
  key: string,
  value: unknown,
  extValue: unknown,
  dst: Record<string, unknown>,
  parent: Node,
  res: ResourceNode,
) {
  const isArr = Array.isArray(value) || Array.isArray(extValue) || (info.repeating && value !== undefined);
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const exts = extValue === undefined || extValue === null ? [] : Array.isArray(extValue) ? extValue : [extValue];
  const n = Math.max(values.length, exts.length);
  if (value !== undefined) dst[key] = isArr ? values.slice() : value;
  else if (isArr) dst[key] = new Array(n).fill(null);
  let extCopy: unknown[] | Record<string, unknown> | undefined;
  if (exts.length > 0) {
    extCopy = isArr ? new Array(n).fill(null) : {};
    dst[`_${key}`] = extCopy;
  }
  if (isArr && Array.isArray(dst[key]) && (dst[key] as unknown[]).length < n) {
    const a = dst[key] as unknown[];
    while (a.length < n) a.push(null);
  }
  const type = info.type === 'unknown' ? typeof values.find((v) => v !== null) === 'number' ? 'decimal' : 'string' : info.type;
  for (let i = 0; i < n; i++) {
    const child: Node = {
      name: info.name,
      key,
      index: isArr ? i : -1,
      holder: dst,
      type,
      elementPath: info.elementPath,
      fpPath: info.fpPath,
      fpType: info.fpType,
      primitive: true,
      obj: null,
      ext: null,
      parent,
      children: NO_CHILDREN,
      res,
      visited: false,
    };
    parent.children.push(child);
    addToIndex(res, child);
    const e = exts[i];
    if (isObj(e)) {
      child.children = [];
      const eCopy: Record<string, unknown> = {};
      if (isArr) (extCopy as unknown[])[i] = eCopy;
      else dst[`_${key}`] = eCopy;
      child.ext = eCopy;
      walkPrimitiveExt(e, eCopy, child, res);
    }
  }
}

/** The `_x` part of a primitive: its id and extensions become the primitive's children. */
function walkPrimitiveExt(src: Record<string, unknown>, dst: Record<string, unknown>, prim: Node, res: ResourceNode) {
  // Reuse walkObject with a stand-in whose fpPath makes `extension` an Extension and `id` a string.
  const standIn: Node = { ...prim, fpPath: 'Element', children: prim.children, obj: dst };
  walkObject(src, dst, standIn, res);
  for (const c of prim.children) c.parent = prim;
}

/** FHIRPath-ish location of a node, e.g. `Patient.name[0].given[1]` (no values). */
export function locationOf(n: Node): string {
  const parts: string[] = [];
  let cur: Node | null = n;
  while (cur) {
    if (!cur.parent) {
      parts.push(cur.type);
      break;
    }
    parts.push(cur.index >= 0 ? `${cur.name}[${cur.index}]` : cur.name);
    cur = cur.parent;
  }
  return parts.reverse().join('.');
}
