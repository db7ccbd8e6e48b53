import t from 'tap';
import { readdirSync } from 'node:fs';
import { parseHl7, mapToFhir, sanitizeV2, buildAck, Hl7ParseError } from '../../src/hl7v2/index.js';
import { loadHl7 } from '../fixtures/hl7v2/load.js';

/** Small deterministic PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = ['|', '^', '~', '\\', '&', '#', '\r', '\n', '""', 'A', '1', '.', '-', '+', '<', '>', ':', 'X', 'ü', 'خ', '\\F\\', '\\X4\\', '\\', '20240101', 'NM', 'SN', 'OBX|', 'PID|', 'OBR|'];

t.test('mutated messages never make parse, map, sanitize or ACK throw anything but Hl7ParseError', async (t) => {
  const files = readdirSync(new URL('../fixtures/hl7v2/', import.meta.url)).filter((f) => f.endsWith('.hl7'));
  const bases = files.map(loadHl7);
  const rand = rng(20240315);
  let parsed = 0;
  let mapped = 0;
  const unexpected: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let s = bases[i % bases.length];
    const edits = 1 + Math.floor(rand() * 6);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * s.length);
      const op = rand();
      const piece = ALPHABET[Math.floor(rand() * ALPHABET.length)];
      if (op < 0.4) s = s.slice(0, at) + piece + s.slice(at);
      else if (op < 0.8) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 5));
      else s = s.slice(0, at) + piece + s.slice(at + piece.length);
    }
    try {
      const m = parseHl7(s);
      parsed++;
      const r = mapToFhir(m);
      if (r.kind === 'mapped') mapped++;
      buildAck(m, 'AE', { text: 'x', errorCode: '207' });
      sanitizeV2(s, { pseudonymize: (id) => `P${id.length}` });
    } catch (err) {
      if (!(err instanceof Hl7ParseError)) unexpected.push(`#${i}: ${(err as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
    }
  }
  t.same(unexpected.slice(0, 5), [], 'no unexpected exceptions');
  t.ok(parsed > 1000, `${parsed} mutated messages still parsed`);
  t.ok(mapped > 300, `${mapped} still mapped`);
});
