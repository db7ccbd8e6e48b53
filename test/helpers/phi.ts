/**
 * Looking for PHI in raw bytes (what went over the wire, what sits on disk) in every
 * form we can think of: the text itself, as JSON writes it (plain or \u-escaped), base64
 * and base64url at each of the three byte alignments, hex, percent-encoding and UTF-16.
 * Matching is case-insensitive (bytes are compared as latin1, lowercased on both sides).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file below `dir` (a data folder, a database cluster), to search for PHI on disk. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

/** The base64 runs that are the same wherever `bytes` sits in a longer base64 text. */
function base64Runs(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const b = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const start = Math.ceil((k * 8) / 6);
    const end = Math.floor(((k + bytes.length) * 8) / 6);
    const run = b.slice(start, end);
    if (run.length >= 8) out.push(run, run.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

const jsonAscii = (s: string) => JSON.stringify(s).slice(1, -1).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Every form of `value` to look for, as latin1 text of the bytes, lowercased. */
export function phiForms(value: string): { form: string; needle: string }[] {
  const utf8 = Buffer.from(value, 'utf8');
  const forms: { form: string; bytes: Buffer }[] = [
    { form: 'plain', bytes: utf8 },
    { form: 'json', bytes: Buffer.from(JSON.stringify(value).slice(1, -1), 'utf8') },
    { form: 'json-ascii', bytes: Buffer.from(jsonAscii(value), 'utf8') },
    { form: 'hex', bytes: Buffer.from(utf8.toString('hex'), 'utf8') },
    { form: 'percent', bytes: Buffer.from(encodeURIComponent(value), 'utf8') },
    { form: 'utf16le', bytes: Buffer.from(value, 'utf16le') },
    ...base64Runs(utf8).map((r) => ({ form: 'base64', bytes: Buffer.from(r, 'utf8') })),
    ...base64Runs(Buffer.from(JSON.stringify(value), 'utf8')).map((r) => ({ form: 'base64-of-json', bytes: Buffer.from(r, 'utf8') })),
  ];
  const seen = new Set<string>();
  const out: { form: string; needle: string }[] = [];
  for (const f of forms) {
    const needle = f.bytes.toString('latin1').toLowerCase();
    if (!seen.has(needle)) {
      seen.add(needle);
      out.push({ form: f.form, needle });
    }
  }
  return out;
}

/** Which of the named PHI values occur in `haystack`, in which form ([] = none). */
export function findPhi(haystack: Buffer, values: Record<string, string>): string[] {
  const text = haystack.toString('latin1').toLowerCase();
  const hits: string[] = [];
  for (const [label, value] of Object.entries(values)) {
    for (const { form, needle } of phiForms(value)) if (text.includes(needle)) hits.push(`${label} (${form})`);
  }
  return hits;
}
