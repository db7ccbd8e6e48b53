/**
 * RFC 6962 Merkle tree hashing, proofs and proof verification, as pure functions.
 *
 *   leaf  = SHA-256(0x00 ‖ entry bytes)
 *   node  = SHA-256(0x01 ‖ left ‖ right)
 *   MTH({}) = SHA-256(""); MTH(D[n]) splits at k = the largest power of two < n.
 *
 * Proofs are built from an accessor `mth(start, end)` that returns the hash of the
 * leaves [start, end). The recursions below only ever ask it for ranges whose start
 * is a multiple of a power of two at least as large as the range, so a store of
 * complete-subtree hashes keyed by (level, index) answers each call with O(log n)
 * lookups at most (see subtreeRanges). Verification follows RFC 9162 §2.1.3.2 and
 * §2.1.4.2.
 */
import { createHash, hash } from 'node:crypto';

export type Hash = Buffer;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export const EMPTY_ROOT: Hash = createHash('sha256').update(Buffer.alloc(0)).digest();

export function leafHash(entry: Uint8Array | string): Hash {
  // One-shot hash of "\0" + text: the same bytes as the prefix then the UTF-8 text, and
  // cheaper than a Hash object per leaf (verify hashes every entry).
  if (typeof entry === 'string') return hash('sha256', '\0' + entry, 'buffer');
  return createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Hash {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The largest power of two strictly less than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && Number.isInteger(Math.log2(n));

/**
 * The complete, aligned subtrees that make up [start, end), left to right, as
 * (level, index) pairs: leaves [index·2^level, (index+1)·2^level).
 */
export function subtreeRanges(start: number, end: number): Array<{ level: number; index: number }> {
  const out: Array<{ level: number; index: number }> = [];
  let s = start;
  while (s < end) {
    // the largest aligned power of two that starts at s and fits
    let size = 1;
    while (s % (size * 2) === 0 && s + size * 2 <= end) size *= 2;
    const level = Math.log2(size);
    out.push({ level, index: s / size });
    s += size;
  }
  return out;
}

/** Folds complete subtrees (left to right, strictly decreasing sizes) into MTH, right to left. */
export function foldSubtrees(hashes: Hash[]): Hash {
  if (hashes.length === 0) return EMPTY_ROOT;
  let h = hashes[hashes.length - 1];
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i], h);
  return h;
}

export type Mth = (start: number, end: number) => Hash;

/** RFC 6962 §2.1.1 PATH(m, D[n]): the audit path for leaf m in the tree of size n, leaf-side first. */
export function inclusionPath(m: number, n: number, mth: Mth): Hash[] {
  if (!(m >= 0 && m < n)) throw new RangeError(`leaf index ${m} is outside a tree of size ${n}`);
  const path: Hash[] = [];
  const walk = (start: number, end: number): void => {
    const size = end - start;
    if (size === 1) return;
    const k = splitPoint(size);
    if (m < start + k) {
      walk(start, start + k);
      path.push(mth(start + k, end));
    } else {
      walk(start + k, end);
      path.push(mth(start, start + k));
    }
  };
  walk(0, n);
  return path;
}

/** RFC 6962 §2.1.2 PROOF(m, D[n]): consistency proof between sizes m and n (0 ≤ m ≤ n). */
export function consistencyPath(m: number, n: number, mth: Mth): Hash[] {
  if (!(m >= 0 && m <= n)) throw new RangeError(`sizes ${m} and ${n} are not in order`);
  if (m === 0 || m === n) return [];
  const path: Hash[] = [];
  const sub = (mm: number, start: number, end: number, complete: boolean): void => {
    const size = end - start;
    if (mm === size) {
      if (!complete) path.push(mth(start, end));
      return;
    }
    const k = splitPoint(size);
    if (mm <= k) {
      sub(mm, start, start + k, complete);
      path.push(mth(start + k, end));
    } else {
      sub(mm - k, start + k, end, false);
      path.push(mth(start, start + k));
    }
  };
  sub(m, 0, n, true);
  return path;
}

/** RFC 9162 §2.1.3.2: does `path` prove `leaf` is at `index` in the tree of `size` with `root`? */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, path: Uint8Array[], root: Uint8Array): boolean {
  if (!(index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && Buffer.from(r).equals(Buffer.from(root));
}

/** RFC 9162 §2.1.4.2: does `path` prove the tree (m, rootM) is a prefix of (n, rootN)? */
export function verifyConsistency(
  m: number,
  n: number,
  path: Uint8Array[],
  rootM: Uint8Array,
  rootN: Uint8Array,
): boolean {
  const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
  if (!(m >= 0 && m <= n)) return false;
  if (m === 0) return path.length === 0; // the empty tree is a prefix of every tree
  if (m === n) return path.length === 0 && eq(rootM, rootN);
  if (path.length === 0) return false;
  const p = isPowerOfTwo(m) ? [rootM, ...path] : [...path];
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Uint8Array = p[0];
  let sr: Uint8Array = p[0];
  for (const c of p.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (!(fn % 2 === 1 || fn === 0)) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return eq(fr, rootM) && eq(sr, rootN) && sn === 0;
}

/**
 * Streams leaves and keeps only the right edge of the tree (one complete subtree
 * per set bit of the size), so the root at any size costs O(log n). The verifier
 * uses it to recompute a whole log in one pass with O(log n) memory.
 */
export class TreeBuilder {
  /** Complete subtree hashes, left to right, sizes strictly decreasing. */
  private readonly stack: Array<{ size: number; hash: Hash }> = [];
  size = 0;

  /** Adds a leaf hash; calls onNode(level, index, hash) for each interior node completed. */
  push(leaf: Hash, onNode?: (level: number, index: number, hash: Hash) => void): void {
    let node = { size: 1, hash: leaf };
    let level = 0;
    let index = this.size;
    while (this.stack.length > 0 && this.stack[this.stack.length - 1].size === node.size) {
      const left = this.stack.pop()!;
      node = { size: node.size * 2, hash: nodeHash(left.hash, node.hash) };
      level++;
      index = Math.floor(index / 2);
      onNode?.(level, index, node.hash);
    }
    this.stack.push(node);
    this.size++;
  }

  root(): Hash {
    return foldSubtrees(this.stack.map((s) => s.hash));
  }
}
