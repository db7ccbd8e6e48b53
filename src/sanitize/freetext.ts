/**
 * darwaza's free-text extension: identities hide in narrative, notes, comments,
 * descriptions, valueString and extensions. After the rules ran, every remaining
 * value of the configured free-text types is scanned for
 *   - built-in or custom patterns (CNIC, Pakistani mobile numbers, passports, NTN,
 *     MRNs, emails, dates, ...), and
 *   - the identities found elsewhere in the input (names, identifier values,
 *     telecoms, address lines, birth dates), matched case-insensitively as whole
 *     words (Unicode letters and digits, so Urdu names match too);
 * and the matches are replaced (or, with `drop: true`, the whole element removed).
 * In xhtml only the text between tags is touched, so the narrative stays well-formed.
 */
import { getValue, setValue, type Node, type ResourceNode } from './model.js';
import { findNames, redactSpans } from './names.js';
import type { CustomPattern, FreeTextSpec } from './profile.js';

interface Pattern {
  name: string;
  re: RegExp;
  replaceWith?: string;
  /** Replaces by a coarser value (date → year, age → 90+) instead of removing: not a flag. */
  generalizes?: boolean;
}

/** A literal digit string that also matches its Urdu (۰-۹) and Arabic-Indic (٠-٩) forms. */
const u = (digits: string) => [...digits].map((c) => `[${c}${String.fromCharCode(0x06f0 + Number(c))}${String.fromCharCode(0x0660 + Number(c))}]`).join('');

/** Words after which a number is a record number even without an MRN label. */
const MRN_WORDS = '(?:file|folio|record|reg(?:istration)?|admission|adm|mrn?|ipd|opd|case|patient|pt|hosp(?:ital)?|no|number|id)';

const MONTHS = '(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?';

/** Built-in patterns, by name. `replaceWith` may use $1 (e.g. a date keeps its year). */
export const PATTERNS: Record<string, { source: string; flags: string; replaceWith?: string; about: string }> = {
  cnic: { source: '(?<!\\d)\\d{5}[- ]\\d{7}[- ]\\d(?!\\d)', flags: 'g', about: 'Pakistani CNIC #####-#######-# (or with spaces)' },
  'cnic-13': { source: '(?<!\\d)\\d{13}(?!\\d)', flags: 'g', about: 'CNIC written as 13 digits' },
  'pk-mobile': {
    source: `(?<![\\d+])(?:(?:\\+|${u('00')})${u('92')}[\\s-]?|${u('0')})\\(?${u('3')}\\d{2}\\)?[\\s-]?\\d{7}(?!\\d)`,
    flags: 'g',
    about: 'Pakistani mobile numbers: +92 3xx…, 0092 3xx…, 03xx-xxxxxxx (ASCII or Urdu digits)',
  },
  'pk-phone': {
    source: `(?<![\\d+])(?:\\+|${u('00')})${u('92')}[\\s-]?\\(?\\d{1,4}\\)?[\\s-]?\\d{3,4}[\\s-]?\\d{3,5}(?!\\d)`,
    flags: 'g',
    about: 'any +92 number (landlines too)',
  },
  'pk-passport': { source: '\\b[A-Z]{2}\\d{7}\\b', flags: 'gi', about: 'Pakistani passport numbers (2 letters, 7 digits)' },
  ntn: {
    source: '(?:(?<!\\d)\\d{7}-\\d(?!\\d))|(?:\\bNTN[ \\t]{0,3}(?:no\\.?|number|#)?[ \\t:#-]{0,4}\\d{7,9}(?:-\\d)?)',
    flags: 'gi',
    about: 'National Tax Number 1234567-8, or labelled NTN',
  },
  mrn: {
    source:
      '\\b(?:MRN|MR[ \\t]{0,2}#|MR[ \\t]{0,2}No\\.?|Medical[ \\t]{1,3}Record(?:[ \\t]{1,3}(?:Number|No\\.?))?|Hospital[ \\t]{1,3}(?:No\\.?|Number))[ \\t]{0,3}[:#]?[ \\t]{0,3}(?=[A-Za-z0-9/-]{0,40}\\d)[A-Za-z0-9][A-Za-z0-9/-]{2,40}',
    flags: 'gi',
    about: 'labelled hospital medical-record numbers (MRN: …)',
  },
  'mrn-context': {
    // The label stays ($1), the id goes: "file no MH-2023-778812" → "file no [redacted]".
    source: `\\b(${MRN_WORDS}\\.?(?:[ \\t]{1,3}(?:no|number|num|#|id)\\.?)?[ \\t]{0,3}[:#]?[ \\t]{0,3})(?:[A-Z]{1,6}[-/]?\\d[\\d/-]{3,24}|\\d{6,16})(?![A-Za-z0-9])`,
    flags: 'gi',
    replaceWith: '$1$R',
    about: 'record numbers after file / no / MR / record / registration … without an MRN label (MH-2023-778812)',
  },
  'pk-landline': {
    source: '(?<![\\d+])(?:\\(0[1-24-9]\\d{1,3}\\)|0[1-24-9]\\d{1,3})[ \\t-]?\\d{3,4}[ \\t-]?\\d{3,4}(?!\\d)',
    flags: 'g',
    about: 'Pakistani landlines with their area code: 042-35761234, (042) 3576 1234, 051-2345678, 021-34567890',
  },
  // bounded repetitions, anchored starts: linear on long tokens (no catastrophic backtracking)
  email: {
    source: '(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,8}\\.[A-Za-z]{2,24}',
    flags: 'g',
    about: 'e-mail addresses',
  },
  'us-ssn': { source: '(?<!\\d)\\d{3}-\\d{2}-\\d{4}(?!\\d)', flags: 'g', about: 'US social security numbers' },
  phone: {
    source: '(?<![\\d+])(?:\\+?\\d{1,3}[\\s.-]?)?\\(?\\d{3}\\)?[\\s.-]?\\d{3}[\\s.-]?\\d{4}(?!\\d)',
    flags: 'g',
    about: 'North-American style phone numbers',
  },
  'date-iso': {
    source: '(?<!\\d)(\\d{4})-\\d{2}-\\d{2}(?:T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?(?!\\d)',
    flags: 'g',
    replaceWith: '$1',
    about: 'ISO dates and times → the year',
  },
  'date-dmy': { source: '(?<!\\d)\\d{1,2}[/.-]\\d{1,2}[/.-](\\d{4})(?!\\d)', flags: 'g', replaceWith: '$1', about: 'dd/mm/yyyy → the year' },
  'date-text': {
    source: `\\b(?:\\d{1,2}(?:st|nd|rd|th)?\\s{1,3}${MONTHS},?\\s{1,3}(\\d{4})|${MONTHS}\\s{1,3}\\d{1,2}(?:st|nd|rd|th)?,?\\s{1,3}(\\d{4}))\\b`,
    flags: 'gi',
    replaceWith: '$1$2',
    about: '12 March 2019 / March 12, 2019 → the year',
  },
  'age-over-89': {
    source: '\\b(?:9\\d|1[0-4]\\d)([ \\t]{0,3}-?[ \\t]{0,3})(years?|yrs?|y\\.?o\\.?|year-old|saal)\\b',
    flags: 'gi',
    replaceWith: '90+$1$2',
    about: 'ages 90 and over → 90+',
  },
  ip: { source: '\\b(?:\\d{1,3}\\.){3}\\d{1,3}\\b', flags: 'g', about: 'IP addresses' },
  url: { source: '\\bhttps?://[^\\s<>"\']+', flags: 'gi', about: 'web addresses' },
};

/** Words of addresses that say nothing about where (not scrubbed from free text on their own). */
const PLACE_WORDS = new Set(
  ('house street road lane avenue block sector phase town colony bazaar bazar market hospital near flat apartment plot ' +
    'floor building mohalla gali chowk village tehsil district city mouza scheme society housing cantt cantonment main ' +
    'north south east west new old opposite behind the and').split(' '),
);

export const PATTERN_NAMES: ReadonlySet<string> = new Set(Object.keys(PATTERNS));

/** What the input says about who it is about: whole values, and the words of its names. */
export interface Identities {
  /** Names, identifier values, telecoms, address lines… (longest first), matched as whole words. */
  values: string[];
  /** Words of every name in the message (lower case, NFC), flagged wherever they appear. */
  nameWords: ReadonlySet<string>;
}

export interface Scan {
  text: string;
  flagged: boolean;
}

interface Compiled {
  res: RegExp[];
  lower: string[];
  nameWords: ReadonlySet<string>;
}

const EMPTY: ReadonlySet<string> = new Set();
export const NO_IDENTITIES: Identities = { values: [], nameWords: EMPTY };
/** Keys and extension URLs that say they hold a person's name. */
const NAMEISH = /name|father|mother|spouse|guardian|relative|kin|brother|sister|husband|wife|son|daughter|contact|person|patient/i;
const PERSON_REF = /(?:^|\/)(?:Patient|Practitioner|PractitionerRole|RelatedPerson|Person)\//;
const PERSON_TYPE = /^(?:Patient|Practitioner|PractitionerRole|RelatedPerson|Person)$/;

export interface FreeTextEngine {
  spec: FreeTextSpec;
  /** Identities in the input (before any rule ran), plus extra ones from the caller. */
  collectIdentities(root: ResourceNode, extra: string[]): Identities;
  /** Scrubs every free-text value; calls `changed` for each element changed. */
  scrub(root: ResourceNode, identities: Identities, changed: (n: Node) => void): void;
  /** The scanner on one string: what it becomes, and whether it was flagged (not passing). */
  scanText(text: string, identities?: Identities): Scan;
}

const DIGIT_OR_AT = /[0-9\u0660-\u0669\u06F0-\u06F9@]/;
/** Numbers of 1-4 digits (a 3-digit NPI, a house number) would scrub lab values: not identities. */
const SHORT_NUMBER = /^\d{1,4}$/;
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function prefilter(patterns: Pattern[]): RegExp | null {
  const source = patterns.map((p) => `(?:${p.re.source.replace(/(?<!\\)\((?!\?)/g, '(?:')})`).join('|');
  for (const flags of ['iu', 'i']) {
    try {
      return new RegExp(source, flags);
    } catch {
      // try the next flags
    }
  }
  return null;
}

/** ASCII, Arabic-Indic (٠-٩) and Extended Arabic-Indic (Urdu, ۰-۹) digits. */
const DIGITS = '0-9\u0660-\u0669\u06F0-\u06F9';

/**
 * Built-in patterns are written with \d; Urdu text may write a CNIC or a phone number in
 * Urdu digits, so \d becomes every digit script we know (inside and outside classes).
 */
export function withAllDigits(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1];
      if (next === 'd') out += inClass ? DIGITS : `[${DIGITS}]`;
      else out += c + next;
      i++;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  return out;
}

export function compileFreeText(spec: FreeTextSpec): FreeTextEngine {
  const patterns: Pattern[] = spec.scrub.map((p) => {
    if (typeof p === 'string') {
      const b = PATTERNS[p];
      // '$R' in a built-in replacement is the profile's replacement text ('$' escaped for replace)
      const replaceWith = b.replaceWith?.replace('$R', spec.replacement.replace(/\$/g, '$$$$'));
      return { name: p, re: new RegExp(withAllDigits(b.source), b.flags), replaceWith, generalizes: b.replaceWith !== undefined && !b.replaceWith.includes('$R') };
    }
    const c = p as CustomPattern;
    const flags = c.flags ?? 'g';
    return { name: c.name, re: new RegExp(c.regex, flags.includes('g') ? flags : `${flags}g`), replaceWith: c.replaceWith };
  });
  // The hospital's own record-number formats: ids with its prefixes anywhere (no label needed),
  // and its patterns as written.
  if (spec.mrn.prefixes.length) {
    const alt = spec.mrn.prefixes.map(escapeRe).join('|');
    patterns.push({ name: 'mrn-prefix', re: new RegExp(withAllDigits(`(?<![A-Za-z0-9])(?:${alt})[ \\t/-]?\\d[\\d/-]{2,24}(?![A-Za-z0-9])`), 'gi') });
  }
  spec.mrn.patterns.forEach((src, i) => patterns.push({ name: `mrn-pattern-${i}`, re: new RegExp(src, 'gi') }));
  // One combined test first: most strings match nothing and cost one scan.
  const combined = patterns.length ? prefilter(patterns) : null;
  const types = new Set(spec.types);
  const min = spec.minIdentityLength;
  const maxLength = spec.maxLength;
  const scanNames = spec.nameLexicon || spec.relatives;

  function collectIdentities(root: ResourceNode, extra: string[]): Identities {
    const out = new Set<string>();
    const nameWords = new Set<string>();
    /** Geography the profile keeps (district, state, country) is not an identity to scrub. */
    const keptPlaces = new Set<string>();
    // Names are also split into words (a note may say just "Khan"); addresses and numbers are not.
    const add = (v: unknown, words = false) => {
      if (typeof v !== 'string') return;
      const s = v.trim();
      if (s.length < min) return;
      out.add(s);
      if (!words) return;
      for (const tok of s.split(/[\s,]+/)) if (tok.length >= min && /[\p{L}\p{N}]/u.test(tok)) out.add(tok);
      for (const m of s.matchAll(/[\p{L}\p{M}\u200C]+/gu)) if (m[0].length >= Math.max(min, 2)) nameWords.add(m[0].normalize('NFC').toLowerCase());
    };
    // Address lines: the whole line, and its distinctive place words ("Gulberg", "Qasimabad"),
    // not the common ones ("House", "Street", "Road") nor numbers.
    const addPlace = (v: unknown) => {
      if (typeof v !== 'string') return;
      add(v);
      for (const tok of v.split(/[\s,.;:/#()-]+/)) {
        if (tok.length >= Math.max(min, 4) && /^\p{L}+$/u.test(tok) && !PLACE_WORDS.has(tok.toLowerCase())) out.add(tok);
      }
    };
    for (const e of extra) add(e, true);
    const visit = (res: ResourceNode) => {
      for (const n of res.byType.get('HumanName') ?? []) for (const c of n.children) if (c.name === 'family' || c.name === 'given' || c.name === 'text') add(getValue(c), true);
      for (const n of res.byType.get('Identifier') ?? []) for (const c of n.children) if (c.name === 'value') add(getValue(c));
      for (const n of res.byType.get('ContactPoint') ?? []) for (const c of n.children) if (c.name === 'value') add(getValue(c));
      for (const n of res.byType.get('Address') ?? []) {
        const kept = new Set<string>();
        for (const c of n.children) {
          if (c.name === 'district' || c.name === 'state' || c.name === 'country') {
            kept.add(String(getValue(c)).toLowerCase());
            keptPlaces.add(String(getValue(c)).toLowerCase());
          }
        }
        for (const c of n.children) {
          if (c.name === 'line' || c.name === 'text') addPlace(getValue(c));
          if (c.name === 'postalCode') add(getValue(c));
          if (c.name === 'city' && !kept.has(String(getValue(c)).toLowerCase())) add(getValue(c));
        }
      }
      if (res.resourceType === 'Patient' || res.resourceType === 'Person' || res.resourceType === 'RelatedPerson') {
        const id = res.obj?.id;
        if (typeof id === 'string' && id.length >= 8) add(id);
        add(res.obj?.birthDate);
      }
      for (const n of res.byType.get('Extension') ?? []) {
        const url = n.obj?.url;
        if (typeof url === 'string' && NAMEISH.test(url)) add(n.obj?.valueString, true);
      }
      // A Reference's display names the person it points at ("Dr. Ali Khan").
      for (const n of res.byType.get('Reference') ?? []) {
        const ref = n.obj?.reference;
        const type = n.obj?.type;
        if ((typeof ref === 'string' && PERSON_REF.test(ref)) || (typeof type === 'string' && PERSON_TYPE.test(type))) add(n.obj?.display, true);
      }
      // Elements that are not FHIR but say they hold a name (hospitalPatientName, contactPerson.nameText).
      for (const n of res.byType.get('string') ?? []) {
        if (n.fpType !== null) continue;
        if (NAMEISH.test(n.key) || (n.parent !== null && n.parent.fpType === null && NAMEISH.test(n.parent.key))) add(getValue(n), true);
      }
      for (const s of res.subResources) visit(s);
    };
    visit(root);
    const values = [...out].filter((v) => !keptPlaces.has(v.toLowerCase()) && !SHORT_NUMBER.test(v)).sort((a, b) => b.length - a.length);
    for (const p of keptPlaces) nameWords.delete(p);
    return { values, nameWords };
  }

  function identityRegexes(ids: string[]): RegExp[] {
    const res: RegExp[] = [];
    for (let i = 0; i < ids.length; i += 400) {
      const alt = ids.slice(i, i + 400).map(escapeRe).join('|');
      res.push(new RegExp(`(?<![\\p{L}\\p{N}])(?:${alt})(?![\\p{L}\\p{N}])`, 'giu'));
    }
    return res;
  }

  // Patterns first (a phone number or e-mail goes whole), then the known identities.
  // Every built-in pattern needs a digit or an @; custom ones are always tried.
  const customPatterns = spec.scrub.some((p) => typeof p !== 'string');
  /**
   * One value through the scanner. `flagged`: something identifying was replaced (a pattern,
   * a known identity, a name, text past the cap); generalizations alone (a date to its year,
   * an age to 90+) change the text without flagging it.
   */
  function scanValue(s: string, ids: Compiled, xhtml: boolean): Scan {
    const st = { flagged: false };
    if (xhtml) {
      if (s.length > maxLength) return { text: `<div xmlns="http://www.w3.org/1999/xhtml">${spec.replacement}</div>`, flagged: true };
      const parts = s.split(/(<[^>]*>)/);
      for (let i = 0; i < parts.length; i += 2) if (parts[i]) parts[i] = scrubScanned(parts[i], ids, st);
      return { text: parts.join(''), flagged: st.flagged };
    }
    // Past the cap nothing is scanned, so nothing there passes: it becomes one replacement.
    const over = s.length > maxLength;
    const text = scrubScanned(over ? s.slice(0, maxLength) : s, ids, st) + (over ? spec.replacement : '');
    return { text, flagged: st.flagged || over };
  }

  function scrubScanned(s: string, ids: Compiled, st: { flagged: boolean }): string {
    let out = s;
    if (patterns.length && (customPatterns || DIGIT_OR_AT.test(out)) && (!combined || combined.test(out))) {
      for (const p of patterns) {
        p.re.lastIndex = 0;
        const next = out.replace(p.re, p.replaceWith ?? spec.replacement);
        if (next !== out && !p.generalizes) st.flagged = true;
        out = next;
      }
    }
    if (ids.res.length > 0) {
      // Cheap prefilter: only strings that contain some identity (as a substring) meet the regex.
      const low = out.toLowerCase();
      let any = false;
      for (const id of ids.lower) {
        if (low.includes(id)) {
          any = true;
          break;
        }
      }
      if (any) {
        for (const re of ids.res) {
          re.lastIndex = 0;
          const next = out.replace(re, spec.replacement);
          if (next !== out) st.flagged = true;
          out = next;
        }
      }
    }
    if (scanNames) {
      const spans = findNames(out, { lexicon: spec.nameLexicon, relatives: spec.relatives, known: ids.nameWords });
      if (spans.length) {
        st.flagged = true;
        out = redactSpans(out, spans, spec.replacement);
      }
    }
    return out;
  }

  function scrub(root: ResourceNode, identities: Identities, changed: (n: Node) => void) {
    const ids: Compiled = {
      res: identityRegexes(identities.values),
      lower: identities.values.map((i) => i.toLowerCase()),
      nameWords: scanNames ? identities.nameWords : EMPTY,
    };
    // The same display texts repeat all over a bundle: scrub each distinct string once.
    const seen = new Map<string, Scan>();
    const visit = (res: ResourceNode) => {
      for (const t of types) {
        for (const n of res.byType.get(t) ?? []) {
          if (n.name === 'reference' && n.parent?.type === 'Reference') continue; // a link, hashed by the rules
          const v = getValue(n);
          if (typeof v !== 'string' || v === '') continue;
          let out = seen.get(v);
          if (out === undefined) {
            out = scanValue(v, ids, t === 'xhtml');
            if (seen.size < 100_000) seen.set(v, out);
          }
          if (out.text === v) continue;
          // drop: a flagged value goes whole; a value only generalized keeps its new text
          setValue(n, spec.drop && out.flagged ? null : out.text);
          changed(n);
        }
      }
      for (const s of res.subResources) visit(s);
    };
    visit(root);
  }

  function scanText(text: string, identities: Identities = NO_IDENTITIES): Scan {
    const ids = { res: identityRegexes(identities.values), lower: identities.values.map((i) => i.toLowerCase()), nameWords: identities.nameWords };
    return scanValue(text, ids, false);
  }

  return { spec, collectIdentities, scrub, scanText };
}
