/**
 * The free-text scanner against what Pakistani notes carry: names in Urdu and Latin script
 * (lexicon and the message's own names), relatives (brother …, s/o, d/o, w/o, ولد, بنت),
 * CNIC in three forms, mobile numbers, landlines, passports, e-mails. Then its cost on
 * hostile input: it grows linearly, and a gateway scanning 1 MB hostile values keeps its
 * event loop turning (these check the algorithm's shape, with bounds generous enough for a
 * noisy shared machine; they are not speed benchmarks).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProfile, parseProfileText } from '../../src/sanitize/index.js';

const keys = { cryptoHashKey: 'hostile-freetext-hash-key-0123456789' };
const profilePath = join(process.cwd(), 'policies', 'profiles', 'pk-research.yaml');
const researchDoc = () => parseProfileText(readFileSync(profilePath, 'utf8'), profilePath) as Record<string, any>;
const research = compileProfile(researchDoc(), { name: 'pk-research', keys });
/** The same scanner, replacing spans instead of dropping values, so a test can see what it marks. */
const marking = compileProfile(
  { fhirPathRules: [], freeText: { ...researchDoc().freeText, drop: false } },
  { name: 'marking' },
);

const note = (text: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { text: 'note' },
  valueString: text,
  ...extra,
});
const valueOf = (p: typeof research, text: string, extra?: Record<string, unknown>) =>
  (p.apply(note(text, extra) as never).resource as Record<string, any>).valueString as string | undefined;

t.test('each identifier form is flagged: the research profile removes the value; the marking scanner shows what', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['CNIC with dashes', 'CNIC 35202-1234567-1 verified', '35202-1234567-1'],
    ['CNIC as 13 digits', 'CNIC 3520212345671 verified', '3520212345671'],
    ['CNIC with spaces', 'CNIC 35202 1234567 1 verified', '35202 1234567 1'],
    ['CNIC in Urdu digits', 'شناختی کارڈ ۳۵۲۰۲-۱۲۳۴۵۶۷-۱', '۳۵۲۰۲-۱۲۳۴۵۶۷-۱'],
    ['+92 mobile', 'reach on +92 300 1234567 anytime', '+92 300 1234567'],
    ['03xx-mobile', 'reach on 0300-1234567 anytime', '0300-1234567'],
    ['03xx mobile, no separator', 'reach on 03001234567 anytime', '03001234567'],
    ['Lahore landline', 'home 042-35761234', '042-35761234'],
    ['landline with brackets and spaces', 'home (042) 3576 1234', '(042) 3576 1234'],
    ['Islamabad landline', 'office 051-2345678', '051-2345678'],
    ['Karachi landline', 'office 021-34567890', '021-34567890'],
    ['passport', 'passport AB1234567 seen', 'AB1234567'],
    ['e-mail', 'mail ali.raza@example.pk for reports', 'ali.raza@example.pk'],
    ['unlabeled record number', 'file no MH-2023-778812', 'MH-2023-778812'],
  ];
  for (const [label, text, secret] of cases) {
    t.equal(valueOf(research, text), undefined, `${label}: removed by pk-research`);
    const marked = valueOf(marking, text) ?? '';
    t.notOk(marked.includes(secret), `${label}: the marking scanner replaces it (${marked})`);
    t.match(marked, /\[redacted\]/, `${label}: with the replacement`);
  }
});

t.test('names: Urdu and Latin script from the lexicon, and names seen elsewhere in the message', async (t) => {
  const cases: Array<[string, string, string[]]> = [
    ['Urdu given and family name', 'مریض محمد قریشی کو داخل کیا گیا', ['محمد', 'قریشی']],
    ['Urdu female name', 'مریضہ فاطمہ کا معائنہ ہوا', ['فاطمہ']],
    ['Latin names, any case', 'seen with AYESHA and khan today', ['AYESHA', 'khan']],
    ['family name alone', 'Mr. Chaudhry reports chest pain', ['Chaudhry']],
  ];
  for (const [label, text, names] of cases) {
    t.equal(valueOf(research, text), undefined, `${label}: removed by pk-research`);
    const marked = valueOf(marking, text) ?? '';
    for (const n of names) t.notOk(marked.includes(n), `${label}: ${n} is marked (${marked})`);
  }
  // a name that no lexicon has, but the message does (a contained Patient's name)
  const contained = { contained: [{ resourceType: 'Patient', id: 'c', name: [{ family: 'Zorvanek', given: ['Pellithar'] }] }] };
  t.equal(valueOf(research, 'pellithar complains of cough', contained), undefined, 'a name from elsewhere in the message: removed');
  t.equal(valueOf(marking, 'pellithar complains of cough', contained), '[redacted] complains of cough');
  // clinical text with no names passes unchanged
  for (const text of ['Hemoglobin low, iron started', 'BP 120/80, pulse 72', 'بخار اور کھانسی تین دن سے', 'No known drug allergies']) {
    t.equal(valueOf(research, text), text, `passes: ${text}`);
  }
});

t.test('relatives named in text', async (t) => {
  const cases: Array<[string, string, string[]]> = [
    ['brother, Latin', 'accompanied by brother Imran Qureshi', ['Imran', 'Qureshi']],
    ['brother, a name no lexicon has', 'accompanied by brother Zorvanek Pellithar today', ['Zorvanek', 'Pellithar']],
    ['s/o', 'Ahmad s/o Muhammad Aslam', ['Muhammad', 'Aslam']],
    ['d/o', 'patient is D/O Zorvanek Pellithar', ['Zorvanek', 'Pellithar']],
    ['w/o', 'w/o Pellithar', ['Pellithar']],
    ['son of', 'son of Zorvanek Pellithar', ['Zorvanek', 'Pellithar']],
    ['ولد', 'زورانک ولد پیلیتھر خاں', ['پیلیتھر', 'خاں']],
    ['بنت', 'مریضہ بنت زورانک', ['زورانک']],
    ['بھائی', 'بھائی زورانک ساتھ آئے', ['زورانک']],
  ];
  for (const [label, text, names] of cases) {
    t.equal(valueOf(research, text), undefined, `${label}: removed by pk-research`);
    const marked = valueOf(marking, text) ?? '';
    for (const n of names) t.notOk(marked.includes(n), `${label}: ${n} is marked (${marked})`);
  }
  // family history without a name stays
  t.equal(valueOf(research, 'Father: Diabetes, mother: hypertension'), 'Father: Diabetes, mother: hypertension', 'a diagnosis after "Father:" is not a name');
  t.equal(valueOf(research, 'brother has asthma'), 'brother has asthma');
});

t.test('text past the length cap does not pass', async (t) => {
  const long = 'fine clinical words '.repeat(5000); // 100,000 characters, no identifiers
  t.equal(valueOf(research, long), undefined, 'pk-research (cap 65,536) removes a longer value');
  const marked = valueOf(marking, long)!;
  t.equal(marked.length, 65_536 + '[redacted]'.length, 'the marking scanner keeps the scanned part and replaces the rest');
  t.equal(valueOf(research, long.slice(0, 60_000)), long.slice(0, 60_000), 'a value under the cap passes');
});

// ---- cost on hostile input ----------------------------------------------------------------------

/** Strings built to make backtracking patterns explode, and name-scanner worst cases. */
const HOSTILE: Record<string, (n: number) => string> = {
  // one label, then a long run the old patterns tried every split of (\s*[:#]?\s*: quadratic)
  'MRN label then spaces': (n) => '1 MRN' + ' '.repeat(n - 5),
  'MRN labels, repeated': (n) => ('1 MRN ' + ' '.repeat(60)).repeat(Math.ceil(n / 66)).slice(0, n),
  'NTN label then spaces': (n) => 'NTN' + ' '.repeat(n - 4) + '1',
  'age then spaces': (n) => '93' + ' '.repeat(n - 3) + '-',
  'day then spaces': (n) => '12' + ' '.repeat(n - 8) + 'March ',
  'digits and dashes': (n) => '0-1'.repeat(Math.ceil(n / 3)).slice(0, n),
  'e-mail local part': (n) => 'a.'.repeat(Math.ceil(n / 2)).slice(0, n),
  'kinship words': (n) => 'brother s/o '.repeat(Math.ceil(n / 12)).slice(0, n),
  'record words': (n) => 'file no MH-2023-'.repeat(Math.ceil(n / 16)).slice(0, n),
  'Urdu names': (n) => 'ولد محمد علی '.repeat(Math.ceil(n / 13)).slice(0, n),
};

t.test('scan time grows linearly with input size (doubling ≈ doubles, not ×4)', async (t) => {
  const doc = researchDoc();
  doc.freeText.maxLength = 10_000_000; // no cap: measure the scanner itself
  const uncapped = compileProfile(doc, { name: 'uncapped', keys });
  // CPU time of this process, not wall time: other processes on a loaded machine do not count.
  const time = (s: string) => {
    const t0 = process.cpuUsage();
    uncapped.apply(note(s) as never);
    const d = process.cpuUsage(t0);
    return (d.user + d.system) / 1000;
  };
  const median = (s: string) => {
    const xs = Array.from({ length: 7 }, () => time(s)).sort((a, b) => a - b);
    return xs[3];
  };
  for (const [label, make] of Object.entries(HOSTILE)) {
    const small = make(100_000);
    const large = make(400_000);
    time(small); // warm up
    const a = median(small);
    const b = median(large);
    // 4× the input: linear ≈ 4×, quadratic ≈ 16×. Allow up to 10× for noise (and a floor for tiny times).
    t.ok(b < Math.max(a, 2) * 10, `${label}: 100 KB ${a.toFixed(1)} ms → 400 KB ${b.toFixed(1)} ms`);
  }
});

t.test('the event loop keeps turning while 1 MB hostile values are scanned', async (t) => {
  // baseline: the interval's own jitter on this machine
  const gaps = async (work: () => Promise<void>) => {
    let last = performance.now();
    let max = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      max = Math.max(max, now - last);
      last = now;
    }, 5);
    await work();
    clearInterval(timer);
    return max;
  };
  const idle = await gaps(() => new Promise((r) => setTimeout(r, 300)));
  let scanned = 0;
  const busy = await gaps(async () => {
    for (const make of Object.values(HOSTILE)) {
      const s = make(1_000_000);
      const out = research.apply(note(s) as never).resource as Record<string, any>;
      t.equal(out.valueString, undefined, 'a 1 MB value is past the cap: removed');
      scanned++;
      await new Promise((r) => setImmediate(r)); // the gateway yields between messages
    }
  });
  t.equal(scanned, Object.keys(HOSTILE).length, 'every hostile value was scanned');
  t.ok(busy < 200, `largest gap between ticks ${busy.toFixed(1)} ms while scanning (idle jitter ${idle.toFixed(1)} ms)`);
});
