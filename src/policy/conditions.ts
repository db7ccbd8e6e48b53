/**
 * Conditions: each `when` field compiled once into a test closure, plain words for the
 * trace, and a small spec the linter reasons about (never-matching, shadowed rules).
 */
import { CATEGORIES, PURPOSE_OF_USE, SYSTEMS, type DestinationKind } from '../model/index.js';
import type { CompiledCondition, EvalContext, Match, PolicyFileRule } from './types.js';

export const DESTINATION_KINDS: readonly DestinationKind[] = ['treatment', 'public-health', 'research', 'ai-service', 'registry', 'other'];

/** How a label code written in a policy maps to a FHIR system. */
export function labelKey(code: string): string {
  if (['U', 'L', 'M', 'N', 'R', 'V'].includes(code)) return `${SYSTEMS.confidentiality}|${code}`;
  if (code === 'ANONYED' || code === 'PSEUDED') return `${SYSTEMS.observationValue}|${code}`;
  return `${SYSTEMS.actCode}|${code}`;
}

export type ConditionSpec =
  | { field: string; type: 'match'; mode: 'any' | 'none'; values: string[]; many: boolean; domain?: readonly string[] }
  | { field: string; type: 'bool'; value: boolean }
  | { field: string; type: 'ageUnder' | 'ageAtLeast'; value: number }
  | { field: string; type: 'time'; key: string; empty: boolean };

export interface Condition extends CompiledCondition {
  spec: ConditionSpec;
}

interface MatchField {
  words: string;
  /** Single value of the context (scalar fields) … */
  one?: (ctx: EvalContext) => string | undefined;
  /** … or the set of values present (set fields: the data "includes"). */
  many?: (ctx: EvalContext) => readonly string[] | Set<string>;
  domain?: readonly string[];
  destination?: boolean;
  /** Written value → compared value. */
  map?: (v: string) => string;
}

const MATCH_FIELDS: Record<string, MatchField> = {
  'destination.name': { words: "the destination's name", one: (c) => c.destination?.name, destination: true },
  'destination.country': { words: "the destination's country", one: (c) => c.destination?.country, destination: true },
  'destination.region': { words: "the destination's region", one: (c) => c.destination?.region, destination: true },
  'destination.kind': { words: "the destination's kind", one: (c) => c.destination?.kind, destination: true, domain: DESTINATION_KINDS },
  purpose: { words: 'the purpose of use', one: (c) => c.purpose, domain: PURPOSE_OF_USE },
  source: { words: 'the sending system', one: (c) => c.source },
  'data.categories': { words: 'the data', many: (c) => c.data.categories, domain: CATEGORIES },
  'data.labels': { words: "the data's security labels", many: (c) => c.labelKeys, map: labelKey },
  'data.resourceTypes': { words: 'the resource types in the message', many: (c) => c.data.resourceTypes },
};

const list = (vs: string[]) => (vs.length === 1 ? vs[0] : `one of ${vs.join(', ')}`);
const noneList = (vs: string[]) => (vs.length === 1 ? vs[0] : `any of ${vs.join(', ')}`);

function normalizeMatch(m: Match<string>): { mode: 'any' | 'none'; values: string[] } {
  if (typeof m === 'string') return { mode: 'any', values: [m] };
  if (Array.isArray(m)) return { mode: 'any', values: m };
  return { mode: 'none', values: m.not };
}

function matchCondition(field: string, m: Match<string>): Condition {
  const f = MATCH_FIELDS[field];
  const { mode, values } = normalizeMatch(m);
  const compared = f.map ? values.map(f.map) : values;
  const set = new Set(compared);
  const spec: ConditionSpec = { field, type: 'match', mode, values, many: !!f.many, domain: f.domain };
  if (f.one) {
    const get = f.one;
    const text = mode === 'any' ? `${f.words} is ${list(values)}` : `${f.words} is not ${noneList(values)}`;
    // An unknown value (e.g. no destination) matches neither "is" nor "is not": unknown means deny.
    const test =
      mode === 'any'
        ? (ctx: EvalContext) => {
            const v = get(ctx);
            return v !== undefined && set.has(v);
          }
        : (ctx: EvalContext) => {
            const v = get(ctx);
            return v !== undefined && !set.has(v);
          };
    return { field, text, test, actual: (ctx) => get(ctx) ?? '(unknown)', spec };
  }
  const getMany = f.many!;
  const has = (ctx: EvalContext) => {
    const present = getMany(ctx);
    for (const v of present) if (set.has(v)) return true;
    return false;
  };
  const text = mode === 'any' ? `${f.words} includes ${list(values)}` : `${f.words} includes none of ${values.join(', ')}`;
  const test = mode === 'any' ? has : (ctx: EvalContext) => !has(ctx);
  return { field, text, test, actual: (ctx) => [...getMany(ctx)], spec };
}

function boolCondition(field: string, value: boolean): Condition {
  const spec: ConditionSpec = { field, type: 'bool', value };
  switch (field) {
    case 'destination.known':
      return {
        field,
        spec,
        text: value ? 'the destination is in the gateway configuration' : 'the destination is not in the gateway configuration (unknown)',
        test: value ? (c) => c.destination !== undefined : (c) => c.destination === undefined,
        actual: (c) => (c.destination ? 'known' : 'unknown'),
      };
    case 'data.identifiable':
      return {
        field,
        spec,
        text: value ? 'the data identifies a patient' : 'the data identifies no patient (de-identified)',
        test: (c) => c.data.identifiable === value,
        actual: (c) => (c.data.identifiable ? 'identifiable' : 'de-identified'),
      };
    case 'data.sensitive':
      return {
        field,
        spec,
        text: value ? 'the data falls in a sensitive category' : 'the data falls in no sensitive category',
        test: (c) => c.data.categories.length > 0 === value,
        actual: (c) => (c.data.categories.length ? c.data.categories : 'no sensitive category'),
      };
    case 'data.opaque':
      return {
        field,
        spec,
        text: value ? 'the data holds content darwaza could not classify (opaque)' : 'every part of the data was classified',
        test: (c) => c.opaque === value,
        actual: (c) => (c.opaque ? 'opaque content' : 'classified content'),
      };
    case 'data.unknownLabels':
      return {
        field,
        spec,
        text: value ? 'the data carries a security label darwaza does not know' : 'every security label on the data is known',
        test: (c) => c.unknownLabels === value,
        actual: (c) => (c.unknownLabels ? 'an unknown label' : 'only known labels'),
      };
    default:
      throw new Error(`no boolean condition ${field}`);
  }
}

/**
 * An age condition. An unknown age (no birth date in the message, none remembered) takes the
 * stricter reading: it matches the condition of a rule that restricts (deny, or obligations
 * such as require-consent) and never that of a rule that permits. "Unknown means deny."
 */
function ageCondition(type: 'ageUnder' | 'ageAtLeast', value: number, unknownMatches: boolean): Condition {
  const field = `data.${type}`;
  const spec: ConditionSpec = { field, type, value };
  const unknown = unknownMatches ? ' (an unknown age counts: this rule restricts)' : '';
  return type === 'ageUnder'
    ? { field, spec, text: `the patient is younger than ${value}${unknown}`, test: (c) => (c.data.ageYears === null ? unknownMatches : c.data.ageYears < value), actual: (c) => c.data.ageYears ?? 'unknown age' }
    : { field, spec, text: `the patient is ${value} or older${unknown}`, test: (c) => (c.data.ageYears === null ? unknownMatches : c.data.ageYears >= value), actual: (c) => c.data.ageYears ?? 'unknown age' };
}


/** Thrown for a time window that cannot be compiled (bad time zone); lint turns it into a finding. */
export class ConditionError extends Error {}

/**
 * A local time window. The formatter is built once; per decision it costs one
 * formatToParts (~1–2 µs), and only when the rule's earlier conditions held.
 */
function timeCondition(spec: { timezone: string; hours?: string; days?: string[] }): Condition {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-GB', { timeZone: spec.timezone, hour: '2-digit', minute: '2-digit', weekday: 'short', hourCycle: 'h23' });
  } catch {
    throw new ConditionError(`unknown time zone "${spec.timezone}" (use an IANA name such as Asia/Karachi)`);
  }
  const [from, to] = (spec.hours ?? '00:00-24:00').split('-').map((hm) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3, 5)));
  const days = spec.days ? new Set(spec.days) : undefined;
  const local = (now: Date) => {
    let minutes = 0;
    let day = '';
    for (const p of fmt.formatToParts(now)) {
      if (p.type === 'hour') minutes += Number(p.value) * 60;
      else if (p.type === 'minute') minutes += Number(p.value);
      else if (p.type === 'weekday') day = p.value.slice(0, 3).toLowerCase();
    }
    return { minutes, day };
  };
  const inHours = (m: number) => (from <= to ? m >= from && m < to : m >= from || m < to);
  const text = `the local time (${spec.timezone}) is ${spec.hours ? `between ${spec.hours.replace('-', ' and ')}` : 'any hour'}${days ? ` on ${[...days].join(', ')}` : ''}`;
  const field = 'time';
  return {
    field,
    text,
    spec: { field, type: 'time', key: JSON.stringify([spec.timezone, spec.hours ?? '', [...(days ?? [])].sort()]), empty: !!days && days.size === 0 },
    test: (c) => {
      const { minutes, day } = local(c.now);
      return inHours(minutes) && (!days || days.has(day));
    },
    actual: (c) => {
      const { minutes, day } = local(c.now);
      return `${day} ${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
    },
  };
}

/**
 * Compile a rule's `when` into conditions, in a fixed, readable order. `restricts`: the rule
 * denies or only adds obligations (it never permits), so an unknown age matches its age
 * conditions.
 */
export function compileConditions(when: PolicyFileRule['when'], restricts = false): Condition[] {
  const out: Condition[] = [];
  const d = when.destination ?? {};
  if (d.known !== undefined) out.push(boolCondition('destination.known', d.known));
  if (d.name !== undefined) out.push(matchCondition('destination.name', d.name));
  if (d.country !== undefined) out.push(matchCondition('destination.country', d.country));
  if (d.region !== undefined) out.push(matchCondition('destination.region', d.region));
  if (d.kind !== undefined) out.push(matchCondition('destination.kind', d.kind));
  if (when.purpose !== undefined) out.push(matchCondition('purpose', when.purpose));
  if (when.source !== undefined) out.push(matchCondition('source', when.source));
  const data = when.data ?? {};
  if (data.identifiable !== undefined) out.push(boolCondition('data.identifiable', data.identifiable));
  if (data.sensitive !== undefined) out.push(boolCondition('data.sensitive', data.sensitive));
  if (data.categories !== undefined) out.push(matchCondition('data.categories', data.categories));
  if (data.labels !== undefined) out.push(matchCondition('data.labels', data.labels));
  if (data.unknownLabels !== undefined) out.push(boolCondition('data.unknownLabels', data.unknownLabels));
  if (data.opaque !== undefined) out.push(boolCondition('data.opaque', data.opaque));
  if (data.resourceTypes !== undefined) out.push(matchCondition('data.resourceTypes', data.resourceTypes));
  if (data.ageUnder !== undefined) out.push(ageCondition('ageUnder', data.ageUnder, restricts));
  if (data.ageAtLeast !== undefined) out.push(ageCondition('ageAtLeast', data.ageAtLeast, restricts));
  if (when.time !== undefined) out.push(timeCondition(when.time));
  return out;
}

/** Why a set of conditions can never all hold, or undefined. */
export function neverMatches(conds: Condition[]): string | undefined {
  const by = new Map(conds.map((c) => [c.spec.field, c.spec]));
  for (const s of by.values()) {
    if (s.type === 'match' && s.mode === 'any' && s.values.length === 0) return `${s.field} is an empty list, so nothing can match it`;
    if (s.type === 'match' && s.mode === 'none' && !s.many && s.domain && s.domain.every((v) => s.values.includes(v))) {
      return `${s.field} excludes every possible value`;
    }
  }
  const known = by.get('destination.known');
  if (known?.type === 'bool' && !known.value) {
    const other = conds.find((c) => c.spec.field.startsWith('destination.') && c.spec.field !== 'destination.known');
    if (other) return `an unknown destination has no ${other.spec.field.slice('destination.'.length)}, so "known: false" and "${other.spec.field}" cannot both hold`;
  }
  const time = by.get('time');
  if (time?.type === 'time' && time.empty) return 'time.days is an empty list, so no day matches';
  const under = by.get('data.ageUnder');
  const atLeast = by.get('data.ageAtLeast');
  if (under?.type === 'ageUnder' && under.value <= 0) return 'no patient is younger than 0';
  if (under?.type === 'ageUnder' && atLeast?.type === 'ageAtLeast' && atLeast.value >= under.value) {
    return `no age is both ${atLeast.value} or older and younger than ${under.value}`;
  }
  const sensitive = by.get('data.sensitive');
  const cats = by.get('data.categories');
  if (sensitive?.type === 'bool' && !sensitive.value && cats?.type === 'match' && cats.mode === 'any') {
    return 'data in no sensitive category cannot include a sensitive category';
  }
  return undefined;
}

/** Does every context that satisfies `b` also satisfy condition `a`? (sound, not complete) */
function implied(a: ConditionSpec, bs: Map<string, ConditionSpec>): boolean {
  if (a.field === 'destination.known' && a.type === 'bool' && a.value) {
    for (const [f, s] of bs) if (f.startsWith('destination.') && !(f === 'destination.known' && s.type === 'bool' && !s.value)) return true;
  }
  if (a.field === 'data.sensitive' && a.type === 'bool' && a.value) {
    const c = bs.get('data.categories');
    if (c?.type === 'match' && c.mode === 'any' && c.values.length) return true;
  }
  const b = bs.get(a.field);
  if (!b) return false;
  if (a.type === 'bool' && b.type === 'bool') return a.value === b.value;
  if (a.type === 'ageUnder' && b.type === 'ageUnder') return a.value >= b.value;
  if (a.type === 'ageAtLeast' && b.type === 'ageAtLeast') return a.value <= b.value;
  if (a.type === 'time' && b.type === 'time') return a.key === b.key;
  if (a.type === 'match' && b.type === 'match') {
    const A = new Set(a.values);
    if (a.mode === 'any' && b.mode === 'any') return b.values.every((v) => A.has(v));
    if (a.mode === 'none' && b.mode === 'none') return a.values.every((v) => b.values.includes(v));
    if (a.mode === 'none' && b.mode === 'any') return !a.many && b.values.every((v) => !A.has(v));
    if (a.mode === 'any' && b.mode === 'none') return !a.many && !!a.domain && a.domain.every((v) => b.values.includes(v) || A.has(v));
  }
  return false;
}

/** True when rule A matches whenever rule B matches. */
export function covers(a: Condition[], b: Condition[]): boolean {
  const bs = new Map(b.map((c) => [c.spec.field, c.spec]));
  return a.every((c) => implied(c.spec, bs));
}
