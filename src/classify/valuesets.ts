/**
 * The sensitive-code value sets (data files in ./valuesets), compiled once into
 * lookups: system → (code → hit). ICD-10 ranges are expanded to their three-character
 * heads so a lookup is one Map.get plus a short prefix scan.
 */
import type { Category } from '../model/index.js';
import icd10 from './valuesets/icd10.json' with { type: 'json' };
import snomed from './valuesets/snomed.json' with { type: 'json' };
import loinc from './valuesets/loinc.json' with { type: 'json' };

export interface CodeHit {
  category: Category;
  /** Sensitivity tag (v3-ActCode), e.g. PSY. */
  tag: string;
}

export interface ValueSetFile {
  name: string;
  systems: string[];
  groups: Array<{
    category: string;
    tag: string;
    codes?: Record<string, string>;
    ranges?: string[][];
    prefixes?: string[];
  }>;
}

interface SystemLookup {
  exact: Map<string, CodeHit>;
  heads: Map<string, CodeHit>;
  prefixes: Array<[string, CodeHit]>;
}

/** Expand an ICD-style range of three-character heads, e.g. ["F20","F99"] or ["X92","Y09"]. */
function expandRange(from: string, to: string): string[] {
  const out: string[] = [];
  const start = from.charCodeAt(0) * 100 + Number(from.slice(1, 3));
  const end = to.charCodeAt(0) * 100 + Number(to.slice(1, 3));
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) {
    throw new Error(`bad ICD range ${from}–${to}`);
  }
  for (let v = start; v <= end; v++) {
    const n = v % 100;
    const letter = String.fromCharCode(Math.floor(v / 100));
    out.push(`${letter}${String(n).padStart(2, '0')}`);
  }
  return out;
}

const normalize = (code: string) => code.trim().toUpperCase();

export function compileValueSets(files: ValueSetFile[]): Map<string, SystemLookup> {
  const bySystem = new Map<string, SystemLookup>();
  for (const file of files) {
    const lookup: SystemLookup = { exact: new Map(), heads: new Map(), prefixes: [] };
    for (const g of file.groups) {
      const hit: CodeHit = { category: g.category as Category, tag: g.tag };
      for (const code of Object.keys(g.codes ?? {})) lookup.exact.set(normalize(code), hit);
      for (const [from, to] of g.ranges ?? []) for (const head of expandRange(from, to)) lookup.heads.set(head, hit);
      for (const p of g.prefixes ?? []) lookup.prefixes.push([normalize(p), hit]);
    }
    for (const s of file.systems) bySystem.set(s, lookup);
  }
  return bySystem;
}

export const VALUE_SETS: ValueSetFile[] = [icd10, snomed, loinc] as ValueSetFile[];

const DEFAULT_LOOKUP = compileValueSets(VALUE_SETS);

const NONE: readonly CodeHit[] = [];

/** The categories a (system, code) pair marks (usually none or one). */
export function lookupCode(system: string, code: string, lookup = DEFAULT_LOOKUP): readonly CodeHit[] {
  const sys = lookup.get(system);
  if (!sys) return NONE;
  const c = normalize(code);
  let hits: CodeHit[] | undefined;
  const exact = sys.exact.get(c);
  if (exact) hits = [exact];
  for (const [p, hit] of sys.prefixes) if (c.startsWith(p)) (hits ??= []).push(hit);
  if (sys.heads.size && c.length >= 3) {
    const head = sys.heads.get(c.slice(0, 3));
    if (head) (hits ??= []).push(head);
  }
  return hits ?? NONE;
}
