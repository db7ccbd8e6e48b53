/**
 * The sensitive-code value sets (data files in ./valuesets, each citing its published
 * source), compiled once into lookups: system → (code → hit). ICD-10 ranges are expanded
 * to their three-character heads so a lookup is one Map.get plus a short prefix scan.
 * Codes are compared after folding case, dots, whitespace and Unicode digits, so
 * "b20", "B 20", "F32.9" and "F329" are read alike.
 */
import type { Category } from '../model/index.js';
import icd10 from './valuesets/icd10.json' with { type: 'json' };
import snomed from './valuesets/snomed.json' with { type: 'json' };
import loinc from './valuesets/loinc.json' with { type: 'json' };
import rxnorm from './valuesets/rxnorm.json' with { type: 'json' };
import { normalizeText } from './text.js';

export interface CodeHit {
  category: Category;
  /** Sensitivity tag (v3-ActCode), e.g. PSY. */
  tag: string;
}

export interface ValueSetFile {
  name: string;
  /** Where the codes come from: URL, version or date, licence. */
  sources?: unknown[];
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

const SIMPLE_CODE = /^[A-Za-z0-9-]*$/;
const normalize = (code: string) => (SIMPLE_CODE.test(code) ? code : normalizeText(code).replace(/[\s.]+/g, '')).toUpperCase();

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

export const VALUE_SETS: ValueSetFile[] = [icd10, snomed, loinc, rxnorm] as ValueSetFile[];

const DEFAULT_LOOKUP = compileValueSets(VALUE_SETS);

const NONE: readonly CodeHit[] = [];

function lookupIn(sys: SystemLookup, code: string): readonly CodeHit[] {
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

/** The categories a (system, code) pair marks (usually none or one). */
export function lookupCode(system: string, code: string, lookup = DEFAULT_LOOKUP): readonly CodeHit[] {
  const sys = lookup.get(system);
  return sys ? lookupIn(sys, code) : NONE;
}

const foldSystem = (s: string) => s.trim().toLowerCase().replace(/\/+$/, '');
/** The same lookups keyed by a folded system URI (case, trailing slash), for senders that spell it oddly. */
const FOLDED = new Map([...DEFAULT_LOOKUP].map(([s, l]) => [foldSystem(s), l]));
const ICD_LOOKUPS = new Set(VALUE_SETS.filter((f) => f.systems.some((s) => s.includes('icd-10'))).map((f) => DEFAULT_LOOKUP.get(f.systems[0])!));
const ALL_LOOKUPS = [...new Set(DEFAULT_LOOKUP.values())];
const UNKNOWN_SYSTEM_LOOKUPS = [...ICD_LOOKUPS, DEFAULT_LOOKUP.get('http://snomed.info/sct')].filter((l): l is SystemLookup => l !== undefined);

/**
 * Systems known to hold no sensitive-condition codes (units, HL7 administrative tables,
 * vaccines, provider taxonomies, CPT, CDC race and ethnicity). A code under any other
 * unknown system is still looked up (lookupCoding): hiding a code's system must not hide it.
 */
const INERT_SYSTEM =
  /^(?:http:\/\/unitsofmeasure\.org|http:\/\/terminology\.hl7\.org\/|http:\/\/hl7\.org\/fhir\/(?!sid\/icd)|urn:ietf:|urn:iso:|http:\/\/nucc\.org|http:\/\/dicom\.nema\.org|http:\/\/www\.ama-assn\.org|urn:oid:2\.16\.840\.1\.113883\.(?:4|5|12|18)\.|urn:oid:2\.16\.840\.1\.113883\.6\.238$)/i;

/**
 * The categories of one Coding. A known system (also spelled with odd case or a trailing
 * slash) uses its own value sets. A code with no system is checked against all of them;
 * one under an unknown system against ICD-10 (when ICD-shaped) and SNOMED CT only, since
 * short numeric codes (LOINC-like NNNN-N, RxNorm) collide with other systems' codes
 * (CDC race 2106-3 is LOINC's hCG test).
 */
export function lookupCoding(system: string | undefined, code: string): readonly CodeHit[] {
  if (system) {
    const direct = DEFAULT_LOOKUP.get(system) ?? FOLDED.get(foldSystem(system));
    if (direct) return lookupIn(direct, code);
    if (INERT_SYSTEM.test(system)) return NONE;
  }
  const icdShaped = /^[A-Za-z]\s*\d/.test(normalizeText(code).trim());
  let hits: CodeHit[] | undefined;
  for (const l of system ? UNKNOWN_SYSTEM_LOOKUPS : ALL_LOOKUPS) {
    // ICD heads only for ICD-shaped codes (a letter then a digit), so a bare number never hits a range.
    if (ICD_LOOKUPS.has(l) && !icdShaped) continue;
    const h = lookupIn(l, code);
    if (h.length) (hits ??= []).push(...h);
  }
  return hits ?? NONE;
}
