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
import type { CustomPattern, FreeTextSpec } from './profile.js';

interface Pattern {
  name: string;
  re: RegExp;
  replaceWith?: string;
}

/** A literal digit string that also matches its Urdu (۰-۹) and Arabic-Indic (٠-٩) forms. */
const u = (digits: string) => [...digits].map((c) => `[${c}${String.fromCharCode(0x06f0 + Number(c))}${String.fromCharCode(0x0660 + Number(c))}]`).join('');

const MONTHS = '(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?';

/** Built-in patterns, by name. `replaceWith` may use $1 (e.g. a date keeps its year). */
export const PATTERNS: Record<string, { source: string; flags: string; replaceWith?: string; about: string }> = {
  cnic: { source: '(?<!\\d)\\d{5}-\\d{7}-\\d(?!\\d)', flags: 'g', about: 'Pakistani CNIC #####-#######-#' },
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
  ntn: { source: '(?:(?<!\\d)\\d{7}-\\d(?!\\d))|(?:\\bNTN\\s*(?:no\\.?|number|#)?[:\\s-]*\\d{7,9}(?:-\\d)?)', flags: 'gi', about: 'National Tax Number 1234567-8, or labelled NTN' },
  mrn: {
    source: '\\b(?:MRN|MR\\s*#|MR\\s*No\\.?|Medical\\s+Record(?:\\s+(?:Number|No\\.?))?|Hospital\\s+(?:No\\.?|Number))\\s*[:#]?\\s*(?=[A-Za-z0-9/-]{0,40}\\d)[A-Za-z0-9][A-Za-z0-9/-]{2,40}',
    flags: 'gi',
    about: 'labelled hospital medical-record numbers (MRN: …)',
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
    source: `\\b(?:\\d{1,2}(?:st|nd|rd|th)?\\s+${MONTHS},?\\s+(\\d{4})|${MONTHS}\\s+\\d{1,2}(?:st|nd|rd|th)?,?\\s+(\\d{4}))\\b`,
    flags: 'gi',
    replaceWith: '$1$2',
    about: '12 March 2019 / March 12, 2019 → the year',
  },
  'age-over-89': {
    source: '\\b(?:9\\d|1[0-4]\\d)(\\s*-?\\s*)(years?|yrs?|y\\.?o\\.?|year-old|saal)\\b',
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

export interface FreeTextEngine {
  spec: FreeTextSpec;
  /** Identities in the input (before any rule ran), plus extra ones from the caller. */
  collectIdentities(root: ResourceNode, extra: string[]): string[];
  /** Scrubs every free-text value; calls `changed` for each element changed. */
  scrub(root: ResourceNode, identities: string[], changed: (n: Node) => void): void;
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
      return { name: p, re: new RegExp(withAllDigits(b.source), b.flags), replaceWith: b.replaceWith };
    }
    const c = p as CustomPattern;
    const flags = c.flags ?? 'g';
    return { name: c.name, re: new RegExp(c.regex, flags.includes('g') ? flags : `${flags}g`), replaceWith: c.replaceWith };
  });
  // One combined test first: most strings match nothing and cost one scan.
  const combined = patterns.length ? prefilter(patterns) : null;
  const types = new Set(spec.types);
  const min = spec.minIdentityLength;

  function collectIdentities(root: ResourceNode, extra: string[]): string[] {
    const out = new Set<string>();
    /** Geography the profile keeps (district, state, country) is not an identity to scrub. */
    const keptPlaces = new Set<string>();
    // Names are also split into words (a note may say just "Khan"); addresses and numbers are not.
    const add = (v: unknown, words = false) => {
      if (typeof v !== 'string') return;
      const s = v.trim();
      if (s.length < min) return;
      out.add(s);
      if (words) for (const tok of s.split(/[\s,]+/)) if (tok.length >= min && /[\p{L}\p{N}]/u.test(tok)) out.add(tok);
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
        if (typeof url === 'string' && /maidenname|father|mother|spouse|guardian/i.test(url)) add(n.obj?.valueString, true);
      }
      for (const s of res.subResources) visit(s);
    };
    visit(root);
    return [...out]
      .filter((v) => !keptPlaces.has(v.toLowerCase()) && !SHORT_NUMBER.test(v))
      .sort((a, b) => b.length - a.length);
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
  function scrubText(s: string, idRes: RegExp[], idsLower: string[]): string {
    let out = s;
    if (patterns.length && (customPatterns || DIGIT_OR_AT.test(out)) && (!combined || combined.test(out))) {
      for (const p of patterns) {
        p.re.lastIndex = 0;
        out = out.replace(p.re, p.replaceWith ?? spec.replacement);
      }
    }
    if (idRes.length === 0) return out;
    // Cheap prefilter: only strings that contain some identity (as a substring) meet the regex.
    const low = out.toLowerCase();
    let any = false;
    for (const id of idsLower) {
      if (low.includes(id)) {
        any = true;
        break;
      }
    }
    if (!any) return out;
    for (const re of idRes) {
      re.lastIndex = 0;
      out = out.replace(re, spec.replacement);
    }
    return out;
  }

  function scrubXhtml(s: string, idRes: RegExp[], idsLower: string[]): string {
    const parts = s.split(/(<[^>]*>)/);
    for (let i = 0; i < parts.length; i += 2) if (parts[i]) parts[i] = scrubText(parts[i], idRes, idsLower);
    return parts.join('');
  }

  function scrub(root: ResourceNode, identities: string[], changed: (n: Node) => void) {
    const idRes = identityRegexes(identities);
    const idsLower = identities.map((i) => i.toLowerCase());
    // The same display texts repeat all over a bundle: scrub each distinct string once.
    const seen = new Map<string, string>();
    const visit = (res: ResourceNode) => {
      for (const t of types) {
        for (const n of res.byType.get(t) ?? []) {
          if (n.name === 'reference' && n.parent?.type === 'Reference') continue; // a link, hashed by the rules
          const v = getValue(n);
          if (typeof v !== 'string' || v === '') continue;
          let out = seen.get(v);
          if (out === undefined) {
            out = t === 'xhtml' ? scrubXhtml(v, idRes, idsLower) : scrubText(v, idRes, idsLower);
            if (seen.size < 100_000) seen.set(v, out);
          }
          if (out === v) continue;
          setValue(n, spec.drop ? null : out);
          changed(n);
        }
      }
      for (const s of res.subResources) visit(s);
    };
    visit(root);
  }

  return { spec, collectIdentities, scrub };
}
