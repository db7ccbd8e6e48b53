/**
 * Names in free text, found by words rather than by regular expressions: the text is cut
 * into letter runs once (linear), and each run is looked up in sets:
 *   - the names lexicon (names-pk.json: Pakistani given and family names, Latin and Urdu
 *     script; Latin matched case-insensitively),
 *   - the name words seen elsewhere in the same message (HumanName parts, name-ish elements),
 *   - relatives: after a kinship word ("brother", "s/o", "d/o", "w/o", "ولد", "بنت", "بھائی"...)
 *     the next one to four name-like words (capitalised Latin, any Urdu word but a particle,
 *     or a known name) are a relative's name.
 * Returns the spans to redact; it never throws and never backtracks.
 */
import lexicon from './names-pk.json' with { type: 'json' };

export type Span = [start: number, end: number];

const fold = (s: string) => s.normalize('NFC').toLowerCase();

/** The shipped lexicon: lower-cased Latin names and NFC Urdu names. */
export const NAME_LEXICON: ReadonlySet<string> = new Set([...lexicon.latin.map(fold), ...lexicon.urdu.map(fold)]);

/** Kinship words after which a name follows (lower case; Urdu as written). */
const KIN = new Set(
  (
    'brother sister son daughter father mother husband wife uncle aunt auntie cousin nephew niece grandfather grandmother ' +
    'grandson granddaughter guardian spouse sibling stepfather stepmother fiance fiancee bhai behan bahen walid walida ' +
    'abbu ammi abba amma beta beti shohar biwi chacha chachi mamu mamoon khala phupho phuppo dada dadi nana nani ' +
    'ولد بنت زوجہ زوج بھائی بہن والد والدہ بیٹا بیٹی شوہر بیوی چچا چچی ماموں خالہ پھوپھی دادا دادی نانا نانی سرپرست'
  ).split(' '),
);
/** Words that may sit between a kinship word and the name ("son of", "wife named", "کا"). */
const FILLER = new Set(
  'of named called is was mr mrs ms miss late sahib sahab the his her their patient patients mister مسمی مسماۃ کا کی کے نے جناب مرحوم مرحومہ'.split(' '),
);
/** Urdu particles and common words that are never a name after a kinship word. */
const URDU_PARTICLES = new Set('کا کی کے نے ہے ہیں تھا تھی اور سے کو میں پر بھی نہیں کہ جو یہ وہ ایک'.split(' '));

/** s/o, d/o, w/o, h/o (son / daughter / wife / husband of), as one kinship token. */
const SLASH_O = /(?<![\p{L}\p{N}])[sdwhSDWH][ \t]?\/[ \t]?[oO](?![\p{L}\p{N}])/gu;
/** A word: letters with their combining marks (Urdu diacritics, ZWNJ inside words). */
const WORD = /[\p{L}\p{M}\u200C]+/gu;
const LATIN_UPPER = /^\p{Lu}/u;
const LATIN = /^[\p{Script=Latin}]/u;
/** Only spaces (and at most one line break) between two words of one name. */
const NAME_GAP = /^[ \t\u00A0]{1,3}$|^[ \t]*\r?\n[ \t]*$/;
/** What may separate a kinship word from the name: spaces, or ':' / '-' / ',' with spaces. */
const KIN_GAP = /^[ \t\u00A0]{0,3}[:,\-–]?[ \t\u00A0]{0,3}$/;

export interface NameScanOptions {
  lexicon: boolean;
  relatives: boolean;
  /** Name words (lower case, NFC) seen elsewhere in the message. */
  known: ReadonlySet<string>;
}

interface Tok {
  start: number;
  end: number;
  low: string;
  kin: boolean;
}

function tokens(text: string): Tok[] {
  const out: Tok[] = [];
  const slash: Span[] = [];
  SLASH_O.lastIndex = 0;
  for (let m = SLASH_O.exec(text); m; m = SLASH_O.exec(text)) slash.push([m.index, m.index + m[0].length]);
  let si = 0;
  WORD.lastIndex = 0;
  for (let m = WORD.exec(text); m; m = WORD.exec(text)) {
    const start = m.index;
    // s/o tokens come in document order, merged with the words
    while (si < slash.length && slash[si][0] <= start) {
      const [a, b] = slash[si++];
      out.push({ start: a, end: b, low: 's/o', kin: true });
      if (WORD.lastIndex < b) WORD.lastIndex = b;
    }
    if (out.length && out[out.length - 1].end > start) continue; // inside an s/o token
    const low = fold(m[0]);
    out.push({ start, end: start + m[0].length, low, kin: KIN.has(low) });
  }
  while (si < slash.length) {
    const [a, b] = slash[si++];
    out.push({ start: a, end: b, low: 's/o', kin: true });
  }
  return out;
}

/** Spans of names in `text` (sorted, may overlap). */
export function findNames(text: string, opts: NameScanOptions): Span[] {
  const spans: Span[] = [];
  if (!opts.lexicon && !opts.relatives && opts.known.size === 0) return spans;
  const toks = tokens(text);
  const isKnown = (t: Tok) => t.low.length >= 2 && ((opts.lexicon && NAME_LEXICON.has(t.low)) || opts.known.has(t.low));
  for (const t of toks) if (!t.kin && isKnown(t)) spans.push([t.start, t.end]);
  if (!opts.relatives) return spans;
  for (let i = 0; i < toks.length; i++) {
    if (!toks[i].kin) continue;
    let j = i + 1;
    let prevEnd = toks[i].end;
    // up to two filler words ("son of", "wife of late")
    for (let f = 0; f < 2 && j < toks.length && FILLER.has(toks[j].low) && KIN_GAP.test(text.slice(prevEnd, toks[j].start)); f++) prevEnd = toks[j++].end;
    let taken = 0;
    while (j < toks.length && taken < 4) {
      const t = toks[j];
      const gap = text.slice(prevEnd, t.start);
      if (gap.length > 8) break;
      const known = isKnown(t);
      if (taken === 0 ? !KIN_GAP.test(gap) : !NAME_GAP.test(gap)) break;
      // a capitalised Latin word after "brother:" could be a diagnosis ("Father: Diabetes"):
      // after punctuation only a known name counts
      const punct = taken === 0 && /[:,\-–]/.test(gap);
      const latin = LATIN.test(t.low);
      const nameLike = known || (!punct && (latin ? LATIN_UPPER.test(text.slice(t.start, t.end)) && !t.kin && !FILLER.has(t.low) : !URDU_PARTICLES.has(t.low) && !t.kin));
      if (!nameLike) break;
      spans.push([t.start, t.end]);
      prevEnd = t.end;
      taken++;
      j++;
    }
  }
  return spans;
}

/** Replaces spans (any order, overlaps merged) by `replacement`. */
export function redactSpans(text: string, spans: Span[], replacement: string): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  let i = 0;
  while (i < spans.length) {
    let [a, b] = spans[i++];
    if (a < at) a = at;
    // merge overlapping spans and name words separated only by spaces ("Imran Qureshi" → one mark)
    while (i < spans.length && (spans[i][0] <= b || /^[ \t]{1,3}$/.test(text.slice(b, spans[i][0])))) b = Math.max(b, spans[i++][1]);
    if (b <= at) continue;
    out += text.slice(at, a) + replacement;
    at = b;
  }
  return out + text.slice(at);
}
