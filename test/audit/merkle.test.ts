import t from 'tap';
import { createHash } from 'node:crypto';
import {
  consistencyPath,
  inclusionPath,
  leafHash,
  nodeHash,
  subtreeRanges,
  foldSubtrees,
  TreeBuilder,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../src/audit/merkle.js';

// ---- An independent reference: RFC 6962 §2.1 written out literally, recursive, on arrays. ----
const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const k = (n: number) => {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
};
function MTH(D: Buffer[]): Buffer {
  if (D.length === 0) return sha();
  if (D.length === 1) return sha(Buffer.from([0]), D[0]);
  const s = k(D.length);
  return sha(Buffer.from([1]), MTH(D.slice(0, s)), MTH(D.slice(s)));
}
function PATH(m: number, D: Buffer[]): Buffer[] {
  if (D.length === 1) return [];
  const s = k(D.length);
  return m < s ? [...PATH(m, D.slice(0, s)), MTH(D.slice(s))] : [...PATH(m - s, D.slice(s)), MTH(D.slice(0, s))];
}
function SUBPROOF(m: number, D: Buffer[], b: boolean): Buffer[] {
  const n = D.length;
  if (m === n) return b ? [] : [MTH(D)];
  const s = k(n);
  return m <= s
    ? [...SUBPROOF(m, D.slice(0, s), b), MTH(D.slice(s))]
    : [...SUBPROOF(m - s, D.slice(s), false), MTH(D.slice(0, s))];
}
const PROOF = (m: number, D: Buffer[]) => SUBPROOF(m, D, true);

// A seeded PRNG so failures reproduce.
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}
const data = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`entry-${i}`));

/** Our production MTH accessor over an in-memory subtree table, the way AuditLog stores it. */
function table(D: Buffer[]) {
  const nodes = new Map<string, Hash>();
  const b = new TreeBuilder();
  D.forEach((d, i) => {
    const leaf = leafHash(d);
    nodes.set(`0:${i}`, leaf);
    b.push(leaf, (level, index, h) => nodes.set(`${level}:${index}`, h));
  });
  const mth = (s: number, e: number) => foldSubtrees(subtreeRanges(s, e).map((r) => nodes.get(`${r.level}:${r.index}`)!));
  return { mth, root: b.root() };
}

const sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 500, 511, 512, 513, 777, 1000];

t.test('roots, audit paths and consistency proofs equal the RFC 6962 reference on trees of 1…1000 leaves', async (t) => {
  const rand = rng(42);
  let checked = 0;
  for (const n of sizes) {
    const D = data(n);
    const { mth, root } = table(D);
    t.ok(root.equals(MTH(D)), `root of ${n}`);
    t.ok(mth(0, n).equals(MTH(D)), `mth(0, ${n})`);
    const ms = n <= 9 ? [...Array(n).keys()] : [0, n - 1, ...Array.from({ length: 6 }, () => Math.floor(rand() * n))];
    for (const m of ms) {
      const ours = inclusionPath(m, n, mth);
      const ref = PATH(m, D);
      t.same(ours.map((h) => h.toString('hex')), ref.map((h) => h.toString('hex')), `PATH(${m}, D[${n}])`);
      t.ok(verifyInclusion(leafHash(D[m]), m, n, ours, root), `inclusion of ${m} in ${n} verifies`);
      checked++;
    }
    const cms = n <= 9 ? [...Array(n + 1).keys()] : [1, n, ...Array.from({ length: 6 }, () => 1 + Math.floor(rand() * n))];
    for (const m of cms) {
      const ours = consistencyPath(m, n, mth);
      const ref = m === 0 ? [] : PROOF(m, D);
      t.same(ours.map((h) => h.toString('hex')), ref.map((h) => h.toString('hex')), `PROOF(${m}, D[${n}])`);
      t.ok(verifyConsistency(m, n, ours, MTH(D.slice(0, m)), root), `consistency ${m} → ${n} verifies`);
      checked++;
    }
  }
  t.ok(checked > 300);
});

t.test('verification rejects a wrong leaf, index, size, root or a tampered path', async (t) => {
  const D = data(37);
  const { mth, root } = table(D);
  const path = inclusionPath(13, 37, mth);
  t.ok(verifyInclusion(leafHash(D[13]), 13, 37, path, root));
  t.notOk(verifyInclusion(leafHash(D[14]), 13, 37, path, root), 'other leaf');
  t.notOk(verifyInclusion(leafHash(D[13]), 12, 37, path, root), 'other index');
  t.notOk(verifyInclusion(leafHash(D[13]), 13, 100, path, root), 'a size whose tree is deeper');
  t.notOk(verifyInclusion(leafHash(D[13]), 13, 13, path, root), 'a size that does not contain the leaf');
  t.notOk(verifyInclusion(leafHash(D[13]), 13, 37, path, MTH(D.slice(0, 36))), 'other root');
  const bad = path.map((h) => Buffer.from(h));
  bad[2][0] ^= 1;
  t.notOk(verifyInclusion(leafHash(D[13]), 13, 37, bad, root), 'flipped bit in the path');
  t.notOk(verifyInclusion(leafHash(D[13]), 13, 37, path.slice(1), root), 'short path');

  const c = consistencyPath(20, 37, mth);
  t.ok(verifyConsistency(20, 37, c, MTH(D.slice(0, 20)), root));
  t.notOk(verifyConsistency(20, 37, c, MTH(D.slice(0, 21)), root), 'other old root');
  const rewritten = [...D.slice(0, 5), Buffer.from('forged'), ...D.slice(6)];
  t.notOk(verifyConsistency(20, 37, c, MTH(rewritten.slice(0, 20)), root), 'history rewritten under the old head');
  t.notOk(verifyConsistency(20, 37, [], MTH(D.slice(0, 20)), root), 'empty proof');
  t.ok(verifyConsistency(37, 37, [], root, root), 'same size, same root');
  t.notOk(verifyConsistency(37, 37, [], root, MTH(D.slice(0, 36))), 'same size, other root');
});

t.test('the streaming builder names each completed subtree by level and index', async (t) => {
  const seen: string[] = [];
  const b = new TreeBuilder();
  for (let i = 0; i < 4; i++) b.push(leafHash(`x${i}`), (l, i2) => seen.push(`${l}:${i2}`));
  t.same(seen, ['1:0', '1:1', '2:0']);
  t.ok(b.root().equals(nodeHash(nodeHash(leafHash('x0'), leafHash('x1')), nodeHash(leafHash('x2'), leafHash('x3')))));
});
