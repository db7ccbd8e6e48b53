/**
 * Verification: recompute the whole tree from the entries, in one streaming pass
 * (O(log n) memory), and check every signed tree head against it.
 *
 * Checked, in order:
 *  1. every head is well formed and signed by a trusted key (the pinned public key);
 *  2. heads of the same size agree (no fork) and timestamps do not go back as size grows;
 *  3. entries are numbered 0, 1, 2, … with no gap, each is canonical JSON;
 *  4. (database) each entry matches its stored leaf hash and every stored interior hash
 *     matches the recomputed one: this names the first altered entry;
 *  5. the recomputed root at each head's size equals the head's root. Because every root
 *     comes from the same leaves, consecutive heads are consistent by construction;
 *     a head the caller trusted earlier (`from`) must also match, which catches a
 *     rewritten or truncated history;
 *  6. no head claims more entries than exist (deletion or truncation).
 */
import { readFileSync, createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Db } from '../store/index.js';
import { getSodium } from '../crypto/sodium.js';
import { parseEntry } from './entry.js';
import { checkTreeHeadShape, verifyTreeHeadSignature, type SignedTreeHead } from './heads.js';
import { leafHash, TreeBuilder, EMPTY_ROOT } from './merkle.js';
import { EXPORT_FILES, type ExportManifest } from './export.js';

export interface VerifyOptions {
  /** A head obtained earlier (e.g. kept by the regulator): the log must still contain exactly it. */
  from?: SignedTreeHead;
  /** Stop at this head (or tree size); it must match too. */
  to?: SignedTreeHead | number;
  /** Database only: compare stored leaf and interior hashes (names the altered entry). Default true. */
  checkStoredNodes?: boolean;
}

export interface BadEntry {
  index: number;
  event?: string;
  time?: string;
}

export type VerifyResult =
  | { ok: true; size: number; heads: number; latest: SignedTreeHead | null; unsignedTail: number }
  | { ok: false; reason: string; firstBadIndex?: number; entry?: BadEntry; range?: [number, number] };

interface Source {
  entries: AsyncIterable<{ index: number; text: string }> | Iterable<{ index: number; text: string; storedLeaf?: Buffer | null }>;
  heads: SignedTreeHead[];
  storedNode?: (level: number, index: number) => Buffer | undefined;
}

/** Verifies a gateway database handle or an export folder against the trusted key(s). */
export async function verifyLog(
  source: Db | string,
  trustedPublicKey: Uint8Array | Uint8Array[],
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const trusted = Array.isArray(trustedPublicKey) ? trustedPublicKey : [trustedPublicKey];
  if (typeof source === 'string') {
    const folder = readFolder(source);
    if ('reason' in folder) return { ok: false, reason: folder.reason };
    return verifySource(folder, trusted, opts);
  }
  return verifySource(dbSource(source, opts.checkStoredNodes ?? true), trusted, opts);
}

function dbSource(db: Db, checkNodes: boolean): Source {
  const page = db.prepare(
    `SELECT e.idx AS idx, e.entry AS entry, n.hash AS leaf FROM audit_entries e
       LEFT JOIN audit_nodes n ON n.level = 0 AND n.idx = e.idx
      WHERE e.idx >= ? ORDER BY e.idx LIMIT ?`,
  );
  const node = db.prepare('SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?').pluck();
  const heads = (
    db
      .prepare('SELECT tree_size, timestamp, root_hash, key_id, signature FROM audit_tree_heads ORDER BY tree_size, timestamp, id')
      .all() as Array<{ tree_size: number; timestamp: number; root_hash: string; key_id: string; signature: string }>
  ).map((r) => ({ v: 1 as const, treeSize: r.tree_size, timestamp: r.timestamp, rootHash: r.root_hash, keyId: r.key_id, signature: r.signature }));
  function* entries() {
    let from = 0;
    for (;;) {
      const rows = page.all(from, 5000) as Array<{ idx: number; entry: string; leaf: Buffer | null }>;
      if (rows.length === 0) return;
      for (const r of rows) yield { index: r.idx, text: r.entry, storedLeaf: checkNodes ? r.leaf : undefined };
      from = rows[rows.length - 1].idx + 1;
    }
  }
  return {
    entries: entries(),
    heads,
    storedNode: checkNodes ? (level, index) => node.get(level, index) as Buffer | undefined : undefined,
  };
}

/** Reads an export folder: only files inside it. */
function readFolder(dir: string): Source | { reason: string } {
  for (const f of [EXPORT_FILES.entries, EXPORT_FILES.heads, EXPORT_FILES.manifest]) {
    if (!existsSync(join(dir, f))) return { reason: `the folder has no ${f}` };
  }
  let manifest: ExportManifest;
  let heads: SignedTreeHead[];
  try {
    manifest = JSON.parse(readFileSync(join(dir, EXPORT_FILES.manifest), 'utf8')) as ExportManifest;
    const h = JSON.parse(readFileSync(join(dir, EXPORT_FILES.heads), 'utf8')) as { heads?: SignedTreeHead[] };
    heads = h.heads ?? [];
  } catch {
    return { reason: `${EXPORT_FILES.manifest} or ${EXPORT_FILES.heads} is not valid JSON` };
  }
  if (manifest.format !== 'darwaza-audit-export' || manifest.v !== 1) return { reason: 'not a darwaza audit export (manifest.json format/v)' };
  if (!Array.isArray(heads) || heads.length === 0) return { reason: `${EXPORT_FILES.heads} holds no signed tree head` };
  async function* entries() {
    const rl = createInterface({ input: createReadStream(join(dir, EXPORT_FILES.entries), 'utf8'), crlfDelay: Infinity });
    let index = 0;
    for await (const line of rl) {
      if (line === '') continue;
      yield { index: index++, text: line };
    }
  }
  return { entries: entries(), heads };
}

async function verifySource(src: Source, trusted: Uint8Array[], opts: VerifyOptions): Promise<VerifyResult> {
  const sodium = await getSodium();
  const all = [...src.heads];
  const to = typeof opts.to === 'number' ? undefined : opts.to;
  const limit = typeof opts.to === 'number' ? opts.to : (opts.to?.treeSize ?? Infinity);
  for (const extra of [opts.from, to]) if (extra) all.push(extra);

  // 1. shape and signatures
  for (const h of all) {
    const bad = checkTreeHeadShape(h);
    if (bad) return { ok: false, reason: bad };
    if (!verifyTreeHeadSignature(sodium, h, trusted)) {
      return {
        ok: false,
        reason: `the tree head at size ${h.treeSize} (${iso(h.timestamp)}) is not signed by the trusted key: the log was re-signed or the head altered`,
      };
    }
  }
  // 2. one root per size, time moves forward
  const bySize = new Map<number, SignedTreeHead>();
  for (const h of all) {
    const seen = bySize.get(h.treeSize);
    if (seen && seen.rootHash !== h.rootHash) {
      return { ok: false, reason: `two signed heads at size ${h.treeSize} have different roots: the history forked` };
    }
    if (!seen) bySize.set(h.treeSize, h);
  }
  const sorted = [...src.heads].sort((a, b) => a.treeSize - b.treeSize || a.timestamp - b.timestamp);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].treeSize > sorted[i - 1].treeSize && sorted[i].timestamp < sorted[i - 1].timestamp) {
      return { ok: false, reason: `the signed head at size ${sorted[i].treeSize} is older than the one at size ${sorted[i - 1].treeSize}` };
    }
  }
  const targets = [...bySize.values()].filter((h) => h.treeSize <= limit).sort((a, b) => a.treeSize - b.treeSize);
  let t = 0;
  let lastGood = 0;
  const checkHeadsAt = (size: number, root: Buffer): VerifyResult | null => {
    while (t < targets.length && targets[t].treeSize === size) {
      if (targets[t].rootHash !== root.toString('hex')) {
        return {
          ok: false,
          reason: `the entries do not hash to the signed head at size ${size} (${iso(targets[t].timestamp)}): an entry between index ${lastGood} and ${size - 1} was altered, removed or reordered`,
          range: [lastGood, size - 1],
        };
      }
      lastGood = size;
      t++;
    }
    return null;
  };
  const head0 = checkHeadsAt(0, EMPTY_ROOT);
  if (head0) return head0;

  // 3–5. stream the entries
  const builder = new TreeBuilder();
  let interiorBad: { level: number; index: number } | null = null;
  const onNode = src.storedNode
    ? (level: number, index: number, hash: Buffer) => {
        if (interiorBad) return;
        const stored = src.storedNode!(level, index);
        if (!stored || !stored.equals(hash)) interiorBad = { level, index };
      }
    : undefined;
  for await (const item of src.entries as AsyncIterable<{ index: number; text: string; storedLeaf?: Buffer | null }>) {
    const i = builder.size;
    if (i >= limit) break;
    if (item.index !== i) {
      return { ok: false, reason: `entry ${i} is missing: entries were deleted`, firstBadIndex: i, entry: { index: i } };
    }
    const parsed = parseEntry(item.text);
    if (!parsed.ok) return { ok: false, reason: `entry ${i}: ${parsed.reason}`, firstBadIndex: i, entry: { index: i } };
    const leaf = leafHash(item.text);
    const named = { index: i, event: String(parsed.entry.event), time: String(parsed.entry.time) };
    if (item.storedLeaf !== undefined && (!item.storedLeaf || !item.storedLeaf.equals(leaf))) {
      return { ok: false, reason: `entry ${i} does not match its recorded leaf hash: it was altered after it was written`, firstBadIndex: i, entry: named };
    }
    builder.push(leaf, onNode);
    if (interiorBad) {
      const { level, index } = interiorBad as { level: number; index: number };
      return {
        ok: false,
        reason: `stored subtree hash (level ${level}, index ${index}) does not match the entries below it: the tree was altered`,
        range: [index * 2 ** level, (index + 1) * 2 ** level - 1],
      };
    }
    const bad = checkHeadsAt(builder.size, builder.root());
    if (bad) return bad;
  }
  // 6. heads beyond the entries
  const count = builder.size;
  const missing = targets.find((h) => h.treeSize > count) ?? (Number.isFinite(limit) && limit > count ? { treeSize: limit } : undefined);
  if (missing) {
    return {
      ok: false,
      reason: `a signed head covers ${missing.treeSize} entries but only ${count} are present: the log was truncated or entries deleted`,
      firstBadIndex: count,
    };
  }
  const latest = targets.length > 0 ? targets[targets.length - 1] : null;
  const latestHead = latest ? [...src.heads, ...all].filter((h) => h.treeSize === latest.treeSize).sort((a, b) => b.timestamp - a.timestamp)[0] : null;
  return { ok: true, size: count, heads: targets.length, latest: latestHead, unsignedTail: count - (latest?.treeSize ?? 0) };
}

const iso = (ms: number) => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};
