/**
 * Element-by-element differences between a resource and its de-identified form,
 * for `darwaza sanitize --diff` (privacy officers checking a profile on sample data).
 */
export interface DiffLine {
  /** FHIRPath-like location, e.g. `Bundle.entry[3].resource.name[0].family`. */
  path: string;
  kind: 'removed' | 'added' | 'changed';
  before?: unknown;
  after?: unknown;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function diff(before: unknown, after: unknown, root?: string): DiffLine[] {
  const out: DiffLine[] = [];
  const start = root ?? (isObj(before) && typeof before.resourceType === 'string' ? before.resourceType : '$');
  walk(before, after, start, out);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: DiffLine[]) {
  if (a === undefined && b === undefined) return;
  if (a === undefined) {
    leaves(b, path, (p, v) => out.push({ path: p, kind: 'added', after: v }));
    return;
  }
  if (b === undefined) {
    leaves(a, path, (p, v) => out.push({ path: p, kind: 'removed', before: v }));
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) walk(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) walk(a[k], b[k], `${path}.${k}`, out);
    return;
  }
  if (Array.isArray(a) !== Array.isArray(b) || isObj(a) !== isObj(b)) {
    walk(a, undefined, path, out);
    walk(undefined, b, path, out);
    return;
  }
  if (a !== b) out.push({ path, kind: 'changed', before: a, after: b });
}

function leaves(v: unknown, path: string, emit: (p: string, v: unknown) => void) {
  if (Array.isArray(v)) v.forEach((x, i) => leaves(x, `${path}[${i}]`, emit));
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) leaves(x, `${path}.${k}`, emit);
  else emit(path, v);
}

/** One line per difference, e.g. `- Patient.name[0].family: "Khan"`. */
export function formatDiff(lines: DiffLine[]): string[] {
  const show = (v: unknown) => JSON.stringify(v);
  return lines.map((l) =>
    l.kind === 'removed' ? `- ${l.path}: ${show(l.before)}` : l.kind === 'added' ? `+ ${l.path}: ${show(l.after)}` : `~ ${l.path}: ${show(l.before)} → ${show(l.after)}`,
  );
}
