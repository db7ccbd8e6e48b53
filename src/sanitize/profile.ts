/**
 * Profile files: Microsoft's FHIR anonymizer configuration format
 * (fhirVersion, processingErrors, fhirPathRules, parameters) plus darwaza's
 * documented extension keys (description, freeText, ages, provenance).
 * Validation is strict: unknown keys are errors, and every error names the
 * profile, the rule and the field — never a data value.
 */

export const METHODS = ['keep', 'redact', 'dateShift', 'cryptoHash', 'encrypt', 'substitute', 'perturb', 'generalize'] as const;
export type Method = (typeof METHODS)[number];
const METHOD_BY_LOWER = new Map(METHODS.map((m) => [m.toLowerCase(), m]));

export interface RuleSpec {
  path: string;
  method: Method;
  replaceWith?: unknown;
  span?: number;
  rangeType?: 'fixed' | 'proportional';
  roundTo?: number;
  cases?: Record<string, string>;
  otherValues?: 'redact' | 'keep';
}

export interface ParametersSpec {
  dateShiftKey?: string;
  dateShiftScope?: 'resource';
  dateShiftFixedOffsetInDays?: number;
  cryptoHashKey?: string;
  encryptKey?: string;
  enablePartialAgesForRedact: boolean;
  enablePartialDatesForRedact: boolean;
  enablePartialZipCodesForRedact: boolean;
  restrictedZipCodeTabulationAreas: string[];
}

export interface CustomPattern {
  name: string;
  regex: string;
  flags?: string;
  replaceWith?: string;
}

/** darwaza extension: scrub (or drop) identities hiding in free text. */
export interface FreeTextSpec {
  /** FHIR primitive types whose values are free text. Default: string, markdown, xhtml. */
  types: string[];
  /** Built-in pattern names (see PATTERNS in freetext.ts) or custom patterns. */
  scrub: (string | CustomPattern)[];
  /** Also remove names, identifiers, telecoms and addresses found elsewhere in the input. Default true. */
  scrubKnownIdentities: boolean;
  /** Drop the whole element when anything matched, instead of replacing the matches. Default false. */
  drop: boolean;
  /** What a scrubbed span becomes. Default "[redacted]". */
  replacement: string;
  /** Known identities shorter than this are not scrubbed (too many false hits). Default 3. */
  minIdentityLength: number;
  /** Characters scanned per value; what lies past them is replaced (or, dropping, removed). Default 65536. */
  maxLength: number;
  /** Flag the Pakistani given and family names of the shipped lexicon (names-pk.json). Default false. */
  nameLexicon: boolean;
  /** Flag the names that follow kinship words (brother …, s/o, d/o, w/o, ولد, بنت). Default false. */
  relatives: boolean;
  /** The hospital's record-number formats: id prefixes ("MH" catches MH-2023-778812 anywhere) and regexes. */
  mrn: { prefixes: string[]; patterns: string[] };
}

/**
 * `rules` (default): Microsoft's semantics, what no rule touches stays.
 * `allow-list`: after the rules, every element no rule matched is removed, and so are elements
 * that are not FHIR, extensions, narrative and attachments unless a rule names them itself;
 * free text that stays must pass the scanner (flagged values are removed).
 */
export type ProfileMode = 'rules' | 'allow-list';

export interface ProfileSpec {
  description?: string;
  mode: ProfileMode;
  fhirVersion?: string;
  processingErrors: 'raise' | 'skip';
  fhirPathRules: RuleSpec[];
  parameters: ParametersSpec;
  freeText?: FreeTextSpec;
  /** darwaza extension: ages (Age.value) of `topCode` or more become `>= topCode` instead of being removed. */
  ages?: { topCode: number };
  /** darwaza extension: add a Provenance recording the de-identification (Bundle entry; else returned beside). */
  provenance: boolean;
}

/** A bad profile: the message names file/rule/field, never data. */
export class ProfileError extends Error {
  override name = 'ProfileError';
}

const TOP_KEYS = new Set(['mode', 'description', 'fhirVersion', 'processingErrors', 'fhirPathRules', 'parameters', 'freeText', 'ages', 'provenance']);
const PARAM_KEYS = new Set([
  'dateShiftKey', 'dateShiftScope', 'dateShiftFixedOffsetInDays', 'cryptoHashKey', 'encryptKey',
  'enablePartialAgesForRedact', 'enablePartialDatesForRedact', 'enablePartialZipCodesForRedact', 'restrictedZipCodeTabulationAreas',
]);
const RULE_KEYS: Record<Method, string[]> = {
  keep: [],
  redact: [],
  dateShift: [],
  cryptoHash: [],
  encrypt: [],
  substitute: ['replaceWith'],
  perturb: ['span', 'rangeType', 'roundTo'],
  generalize: ['cases', 'otherValues'],
};
const FREE_TEXT_KEYS = new Set([
  'types', 'scrub', 'scrubKnownIdentities', 'drop', 'replacement', 'minIdentityLength', 'maxLength', 'nameLexicon', 'relatives', 'mrn',
]);
/** The scanner an allow-list profile gets when it names none: every built-in pattern that removes. */
export const ALLOW_LIST_DEFAULT_SCRUB = [
  'cnic', 'cnic-13', 'pk-mobile', 'pk-phone', 'pk-landline', 'pk-passport', 'ntn', 'mrn', 'mrn-context', 'email', 'us-ssn', 'phone', 'ip', 'url',
  'date-iso', 'date-dmy', 'date-text', 'age-over-89',
];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a parsed profile document and returns it normalised. `where` names it in errors. */
export function parseProfile(doc: unknown, where: string, knownPatterns: ReadonlySet<string>): ProfileSpec {
  const fail = (msg: string): never => {
    throw new ProfileError(`${where}: ${msg}`);
  };
  if (!isObj(doc)) return fail('a profile must be an object with fhirPathRules');
  for (const k of Object.keys(doc)) {
    if (k === 'processingError') fail('unknown key "processingError" (the key is "processingErrors")');
    if (!TOP_KEYS.has(k)) fail(`unknown key "${k}" (allowed: ${[...TOP_KEYS].join(', ')})`);
  }
  if (doc.description !== undefined && typeof doc.description !== 'string') fail('description must be a string');
  const fhirVersion = doc.fhirVersion;
  if (fhirVersion !== undefined && fhirVersion !== null && fhirVersion !== '' && String(fhirVersion).toUpperCase() !== 'R4') {
    fail(`fhirVersion "${String(fhirVersion)}" is not supported (expected R4 or empty)`);
  }
  let processingErrors: 'raise' | 'skip' = 'raise';
  if (doc.processingErrors !== undefined) {
    const pe = String(doc.processingErrors).toLowerCase();
    if (pe !== 'raise' && pe !== 'skip') fail('processingErrors must be "raise" or "skip"');
    processingErrors = pe as 'raise' | 'skip';
  }
  if (!Array.isArray(doc.fhirPathRules)) return fail('fhirPathRules must be a list of {path, method, ...}');
  const rules = doc.fhirPathRules.map((r, i) => parseRule(r, `fhirPathRules[${i}]`, fail));
  const parameters = parseParameters(doc.parameters, fail);
  let mode: ProfileMode = 'rules';
  if (doc.mode !== undefined) {
    if (doc.mode !== 'rules' && doc.mode !== 'allow-list') fail('mode must be "rules" or "allow-list"');
    mode = doc.mode as ProfileMode;
  }
  let freeText = doc.freeText === undefined ? undefined : parseFreeText(doc.freeText, fail, knownPatterns);
  if (mode === 'allow-list') {
    // Kept free text must pass the scanner; a value it flags goes whole (see docs/sanitize.md).
    if (isObj(doc.freeText) && doc.freeText.drop === false) fail('freeText.drop: false is not allowed with mode allow-list (flagged free text is removed)');
    freeText ??= parseFreeText({ scrub: ALLOW_LIST_DEFAULT_SCRUB, nameLexicon: true, relatives: true }, fail, knownPatterns);
    freeText.drop = true;
  }
  let ages: ProfileSpec['ages'];
  if (doc.ages !== undefined) {
    if (!isObj(doc.ages) || Object.keys(doc.ages).some((k) => k !== 'topCode')) fail('ages must be { topCode: number }');
    const tc = (doc.ages as Record<string, unknown>).topCode;
    if (typeof tc !== 'number' || !Number.isInteger(tc) || tc < 1) fail('ages.topCode must be a positive integer');
    ages = { topCode: tc as number };
  }
  if (doc.provenance !== undefined && typeof doc.provenance !== 'boolean') fail('provenance must be true or false');
  return {
    description: doc.description as string | undefined,
    mode,
    fhirVersion: fhirVersion ? String(fhirVersion) : undefined,
    processingErrors,
    fhirPathRules: rules,
    parameters,
    freeText,
    ages,
    provenance: doc.provenance === true,
  };
}

function parseRule(r: unknown, at: string, fail: (m: string) => never): RuleSpec {
  if (!isObj(r)) fail(`${at} must be an object {path, method}`);
  const rule = r as Record<string, unknown>;
  if (typeof rule.path !== 'string' || rule.path.trim() === '') fail(`${at}.path is missing`);
  if (typeof rule.method !== 'string') fail(`${at}.method is missing`);
  const method = METHOD_BY_LOWER.get((rule.method as string).toLowerCase());
  if (!method) fail(`${at}.method "${String(rule.method)}" is not one of ${METHODS.join(', ')}`);
  const m = method as Method;
  const allowed = new Set(['path', 'method', ...RULE_KEYS[m]]);
  for (const k of Object.keys(rule)) if (!allowed.has(k)) fail(`${at}: key "${k}" is not valid for method ${m}`);
  const out: RuleSpec = { path: rule.path as string, method: m };
  if (m === 'substitute') {
    if (!('replaceWith' in rule)) fail(`${at}.replaceWith is required for substitute`);
    out.replaceWith = rule.replaceWith;
  }
  if (m === 'perturb') {
    const span = typeof rule.span === 'string' ? Number(rule.span) : rule.span;
    if (typeof span !== 'number' || !Number.isFinite(span) || span < 0) fail(`${at}.span is required and must be a non-negative number`);
    out.span = span as number;
    if (rule.rangeType !== undefined) {
      const rt = String(rule.rangeType).toLowerCase();
      if (rt !== 'fixed' && rt !== 'proportional') fail(`${at}.rangeType must be "fixed" or "proportional"`);
      out.rangeType = rt as 'fixed' | 'proportional';
    }
    if (rule.roundTo !== undefined) {
      const rt = Number(rule.roundTo);
      if (!Number.isInteger(rt) || rt < 0 || rt > 28) fail(`${at}.roundTo must be an integer from 0 to 28`);
      out.roundTo = rt;
    }
  }
  if (m === 'generalize') {
    if (!isObj(rule.cases)) fail(`${at}.cases is required: an object of "condition": "value" FHIRPath expressions`);
    const cases: Record<string, string> = {};
    for (const [k, v] of Object.entries(rule.cases as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`${at}.cases: each value must be a FHIRPath expression string`);
      cases[k] = v as string;
    }
    out.cases = cases;
    if (rule.otherValues !== undefined) {
      const ov = String(rule.otherValues).toLowerCase();
      if (ov !== 'redact' && ov !== 'keep') fail(`${at}.otherValues must be "redact" or "keep"`);
      out.otherValues = ov as 'redact' | 'keep';
    }
  }
  return out;
}

function parseParameters(p: unknown, fail: (m: string) => never): ParametersSpec {
  const out: ParametersSpec = {
    enablePartialAgesForRedact: false,
    enablePartialDatesForRedact: false,
    enablePartialZipCodesForRedact: false,
    restrictedZipCodeTabulationAreas: [],
  };
  if (p === undefined || p === null) return out;
  if (!isObj(p)) fail('parameters must be an object');
  const params = p as Record<string, unknown>;
  for (const k of Object.keys(params)) {
    if (!PARAM_KEYS.has(k)) fail(`parameters: unknown key "${k}"`);
  }
  for (const k of ['dateShiftKey', 'cryptoHashKey', 'encryptKey'] as const) {
    const v = params[k];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') fail(`parameters.${k} must be a string`);
    out[k] = v as string;
  }
  if (params.dateShiftScope !== undefined && params.dateShiftScope !== null && params.dateShiftScope !== '') {
    const s = String(params.dateShiftScope).toLowerCase();
    if (s === 'file' || s === 'folder') fail(`parameters.dateShiftScope "${s}" has no meaning in a gateway (no files); use "resource"`);
    if (s !== 'resource') fail('parameters.dateShiftScope must be "resource"');
    out.dateShiftScope = 'resource';
  }
  if (params.dateShiftFixedOffsetInDays !== undefined && params.dateShiftFixedOffsetInDays !== null) {
    const n = Number(params.dateShiftFixedOffsetInDays);
    if (!Number.isInteger(n)) fail('parameters.dateShiftFixedOffsetInDays must be an integer');
    out.dateShiftFixedOffsetInDays = n;
  }
  for (const k of ['enablePartialAgesForRedact', 'enablePartialDatesForRedact', 'enablePartialZipCodesForRedact'] as const) {
    const v = params[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'boolean') fail(`parameters.${k} must be true or false`);
    out[k] = v as boolean;
  }
  const z = params.restrictedZipCodeTabulationAreas;
  if (z !== undefined && z !== null) {
    if (!Array.isArray(z) || z.some((x) => typeof x !== 'string')) fail('parameters.restrictedZipCodeTabulationAreas must be a list of strings');
    out.restrictedZipCodeTabulationAreas = z as string[];
  }
  return out;
}

function parseFreeText(f: unknown, fail: (m: string) => never, knownPatterns: ReadonlySet<string>): FreeTextSpec {
  if (!isObj(f)) fail('freeText must be an object');
  const ft = f as Record<string, unknown>;
  for (const k of Object.keys(ft)) if (!FREE_TEXT_KEYS.has(k)) fail(`freeText: unknown key "${k}" (allowed: ${[...FREE_TEXT_KEYS].join(', ')})`);
  const out: FreeTextSpec = {
    types: ['string', 'markdown', 'xhtml'],
    scrub: [],
    scrubKnownIdentities: true,
    drop: false,
    replacement: '[redacted]',
    minIdentityLength: 3,
    maxLength: 65536,
    nameLexicon: false,
    relatives: false,
    mrn: { prefixes: [], patterns: [] },
  };
  if (ft.types !== undefined) {
    if (!Array.isArray(ft.types) || ft.types.some((t) => typeof t !== 'string')) fail('freeText.types must be a list of FHIR type names');
    out.types = ft.types as string[];
  }
  if (ft.scrub !== undefined) {
    if (!Array.isArray(ft.scrub)) fail('freeText.scrub must be a list of pattern names or {name, regex}');
    (ft.scrub as unknown[]).forEach((p, i) => {
      if (typeof p === 'string') {
        if (!knownPatterns.has(p)) fail(`freeText.scrub[${i}]: unknown pattern "${p}" (built-in: ${[...knownPatterns].join(', ')})`);
        out.scrub.push(p);
        return;
      }
      if (!isObj(p) || typeof p.name !== 'string' || typeof p.regex !== 'string') fail(`freeText.scrub[${i}] must be a name or {name, regex, flags?, replaceWith?}`);
      const cp = p as Record<string, unknown>;
      for (const k of Object.keys(cp)) if (!['name', 'regex', 'flags', 'replaceWith'].includes(k)) fail(`freeText.scrub[${i}]: unknown key "${k}"`);
      try {
        new RegExp(cp.regex as string, String(cp.flags ?? 'g'));
      } catch {
        fail(`freeText.scrub[${i}] (${String(cp.name)}): regex does not compile`);
      }
      out.scrub.push({
        name: cp.name as string,
        regex: cp.regex as string,
        flags: cp.flags as string | undefined,
        replaceWith: cp.replaceWith as string | undefined,
      });
    });
  }
  for (const k of ['scrubKnownIdentities', 'drop', 'nameLexicon', 'relatives'] as const) {
    if (ft[k] === undefined) continue;
    if (typeof ft[k] !== 'boolean') fail(`freeText.${k} must be true or false`);
    out[k] = ft[k] as boolean;
  }
  if (ft.replacement !== undefined) {
    if (typeof ft.replacement !== 'string') fail('freeText.replacement must be a string');
    out.replacement = ft.replacement as string;
  }
  if (ft.maxLength !== undefined) {
    const n = ft.maxLength;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) fail('freeText.maxLength must be a positive integer');
    out.maxLength = n as number;
  }
  if (ft.mrn !== undefined) {
    const m = ft.mrn;
    if (!isObj(m) || Object.keys(m).some((k) => k !== 'prefixes' && k !== 'patterns')) fail('freeText.mrn must be { prefixes?: [..], patterns?: [..] }');
    const mm = m as Record<string, unknown>;
    for (const k of ['prefixes', 'patterns'] as const) {
      const v = mm[k];
      if (v === undefined) continue;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) fail(`freeText.mrn.${k} must be a list of non-empty strings`);
      out.mrn[k] = v as string[];
    }
    out.mrn.patterns.forEach((src, i) => {
      try {
        new RegExp(src, 'gi');
      } catch {
        fail(`freeText.mrn.patterns[${i}]: regex does not compile`);
      }
    });
  }
  if (ft.minIdentityLength !== undefined) {
    const n = ft.minIdentityLength;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) fail('freeText.minIdentityLength must be a positive integer');
    out.minIdentityLength = n as number;
  }
  return out;
}
