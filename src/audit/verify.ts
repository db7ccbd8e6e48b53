/**
 * Verification: recompute the whole tree from the entries, in one streaming pass
 * (O(log n) memory), and check every signed tree head against it.
 *
 * Checked, in order:
 *  1. every head is well formed and signed by a trusted key (the pinned public key);
 *  2. heads of the same size agree (no fork) and timestamps do not go back as size grows;
 *  3. entries are numbered 0, 1, 2, … with no gap, each is canonical JSON;
 *  4. (database) each entry matches its stored leaf hash (this names the first altered
 *     entry), and, after the pass, each stored interior hash is the node hash of its two
 *     stored children (one sequential scan per level): proofs are served from these;
 *  5. the recomputed root at each head's size equals the head's root. Because every root
 *     comes from the same leaves, consecutive heads are consistent by construction;
 *     a head the caller trusted earlier (`from`) must also match, which catches a
 *     rewritten or truncated history;
 *  6. no head claims more entries than exist (deletion or truncation).
 */
import { readFileSync, createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Db } from '../store/index.js';
import { getSodium, type SodiumLib } from '../crypto/sodium.js';
import { parseEntry } from './entry.js';
import { checkTreeHeadShape, verifyTreeHeadSignature, type SignedTreeHead } from './heads.js';
import { leafHash, nodeHash, TreeBuilder, EMPTY_ROOT, verifyConsistency, verifyInclusion } from './merkle.js';
import { EXPORT_FILES, type ExportManifest, type ProofLine, type TreeHeadsFile } from './export.js';
import type { LeafBatch, LeafTask } from './leaf-check.js';
import { defaultVerifyWorkers, leafCheckers } from './verify-workers.js';

export interface VerifyOptions {
  /** A head obtained earlier (e.g. kept by the regulator): the log must still contain exactly it. */
  from?: SignedTreeHead;
  /** Stop at this head (or tree size); it must match too. */
  to?: SignedTreeHead | number;
  /** Database only: compare stored leaf and interior hashes (names the altered entry). Default true. */
  checkStoredNodes?: boolean;
  /**
   * Worker threads for the per-entry checks and leaf hashes (default: one per core for a log of
   * 50,000 entries or more, none below). 0: everything on the calling thread.
   */
  workers?: number;
}

export interface BadEntry {
  index: number;
  event?: string;
  time?: string;
}

export type VerifyResult =
  | {
      ok: true;
      /** Entries in the log up to the latest verified head (a range export: the head's size). */
      size: number;
      heads: number;
      latest: SignedTreeHead | null;
      unsignedTail: number;
      scope: 'full' | 'range';
      /** Entries actually checked (range exports: the range plus its two boundary entries). */
      entriesChecked: number;
      /** A shared log that continues earlier ones: how many, and their entries (each verified, and linked). */
      priorSegments?: { segments: number; entries: number };
    }
  | { ok: false; reason: string; firstBadIndex?: number; entry?: BadEntry; range?: [number, number] };

/** A batch of entries in index order; `gap`: the entry after the batch's last is missing. */
interface SourceBatch {
  task: LeafTask;
  gap?: boolean;
}

interface Source {
  /**
   * The entries in index order, in batches: one await per batch, not per entry (verify reads
   * millions). `parallel`: the batches go to worker threads, which may read them themselves.
   */
  batches(parallel: boolean): AsyncIterable<SourceBatch> | Iterable<SourceBatch>;
  /** About how many entries there are (chooses the number of workers). */
  approxEntries: number;
  heads: SignedTreeHead[];
  /**
   * Database only: the stored interior hashes, compared with the ones the pass computes as it
   * goes (no second hashing pass), and after it the first one that was missing or differed.
   */
  storedTree?: StoredTreeCheck;
}

/** Verifies a gateway database handle or an export folder against the trusted key(s). */
export async function verifyLog(
  source: Db | string,
  trustedPublicKey: Uint8Array | Uint8Array[],
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const trusted = Array.isArray(trustedPublicKey) ? trustedPublicKey : [trustedPublicKey];
  if (typeof source === 'string') {
    const range = readRangeFolder(source);
    if (range) return 'reason' in range ? { ok: false, reason: range.reason } : verifyRange(range, trusted, opts);
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
  const level = db.prepare('SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx');
  // The tree is built after the entries, in batches (AuditLog.build): the stored hashes cover a
  // prefix of the log, and every signed head lies within it. Past it there is nothing stored to check.
  const lastBuilt = db.prepare('SELECT idx FROM audit_nodes WHERE level = 0 ORDER BY idx DESC LIMIT 1').pluck().get() as number | undefined;
  const built = lastBuilt === undefined ? 0 : lastBuilt + 1;
  const heads = (
    db
      .prepare('SELECT tree_size, timestamp, root_hash, key_id, signature FROM audit_tree_heads ORDER BY tree_size, timestamp, id')
      .all() as Array<{ tree_size: number; timestamp: number; root_hash: string; key_id: string; signature: string }>
  ).map((r) => ({ v: 1 as const, treeSize: r.tree_size, timestamp: r.timestamp, rootHash: r.root_hash, keyId: r.key_id, signature: r.signature }));
  // Rows as arrays (no object per row): verify reads every entry.
  page.raw(true);
  const last = db.prepare('SELECT max(idx) FROM audit_entries').pluck().get() as number | null;
  const size = last === null ? 0 : last + 1;
  // Workers read a file database themselves (their own read-only connections): the log is
  // append-only, so every entry below this snapshot's size is the same in theirs.
  function* ranges(): Generator<SourceBatch> {
    for (let from = 0; from < size; from += 5000) {
      yield { task: { kind: 'db-range', file: db.name, from, to: Math.min(size, from + 5000), storedBelow: checkNodes ? built : 0 } };
    }
  }
  function* batches(): Generator<SourceBatch> {
    let from = 0;
    for (;;) {
      const rows = page.all(from, 5000) as Array<[number, string, Buffer | null]>;
      if (rows.length === 0) return;
      const texts: string[] = [];
      const stored: (Buffer | null | undefined)[] = [];
      for (const [idx, text, leaf] of rows) {
        if (idx !== from + texts.length) {
          yield { task: { kind: 'texts', texts, stored }, gap: true };
          return;
        }
        texts.push(text);
        stored.push(checkNodes && idx < built ? leaf : undefined);
      }
      yield { task: { kind: 'texts', texts, stored } };
      from += rows.length;
    }
  }
  return {
    batches: (parallel) => (parallel && !db.memory ? ranges() : batches()),
    approxEntries: size,
    heads,
    storedTree: checkNodes ? storedTreeCheck(level, built, () => heads.reduce((m, h) => Math.max(m, h.treeSize), 0)) : undefined,
  };
}

interface StoredTreeCheck {
  /** Called by the pass for every interior node it completes. */
  onNode(level: number, index: number, hash: Buffer): void;
  /** After the pass over `size` entries: the first stored interior hash missing or wrong, if any. */
  result(size: number): { level: number; index: number } | null;
}

/**
 * Given that every stored leaf hash matched its entry, the stored interior hashes are right iff
 * each equals the hash the pass computed for the same node. The pass completes the nodes of a
 * level in index order, so each level reads its stored hashes forward in chunks.
 */
function storedTreeCheck(level: { all: (...a: number[]) => unknown[] }, built: number, signedSize: () => number): StoredTreeCheck {
  const CHUNK = 4096;
  const chunks = new Map<number, { from: number; hashes: (Buffer | undefined)[] }>();
  let first: { level: number; index: number } | null = null;
  const before = (l: number, k: number) => !first || l < first.level || (l === first.level && k < first.index);
  return {
    onNode(l, k, hash) {
      if ((k + 1) * 2 ** l > built || !before(l, k)) return; // past the stored prefix, or already failed lower
      let c = chunks.get(l);
      if (!c || k >= c.from + CHUNK) {
        const from = k - (k % CHUNK);
        const hashes: (Buffer | undefined)[] = new Array(CHUNK);
        for (const r of level.all(l, from, from + CHUNK) as Array<{ idx: number; hash: Buffer }>) hashes[r.idx - from] = r.hash;
        c = { from, hashes };
        chunks.set(l, c);
      }
      const stored = c.hashes[k - c.from];
      if (!stored || !stored.equals(hash)) first = { level: l, index: k };
    },
    result(size) {
      // A head is signed only over a built tree: a head past the stored prefix means hashes were removed.
      const signed = Math.min(size, signedSize());
      if (built < signed) return { level: 0, index: built };
      return first;
    },
  };
}

/** Steps 1–2: shapes, signatures under a trusted key, one root per size, time moving forward. */
function checkHeadSet(
  all: SignedTreeHead[],
  srcHeads: SignedTreeHead[],
  trusted: Uint8Array[],
  sodium: SodiumLib,
): { reason: string } | { bySize: Map<number, SignedTreeHead> } {
  // 1. shape and signatures
  for (const h of all) {
    const bad = checkTreeHeadShape(h);
    if (bad) return { reason: bad };
    if (!verifyTreeHeadSignature(sodium, h, trusted)) {
      return {
        reason: `the tree head at size ${h.treeSize} (${iso(h.timestamp)}) is not signed by the trusted key: the log was re-signed or the head altered`,
      };
    }
  }
  // 2. one root per size, time moves forward
  const bySize = new Map<number, SignedTreeHead>();
  for (const h of all) {
    const seen = bySize.get(h.treeSize);
    if (seen && seen.rootHash !== h.rootHash) {
      return { reason: `two signed heads at size ${h.treeSize} have different roots: the history forked` };
    }
    if (!seen) bySize.set(h.treeSize, h);
  }
  const sorted = [...srcHeads].sort((a, b) => a.treeSize - b.treeSize || a.timestamp - b.timestamp);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].treeSize > sorted[i - 1].treeSize && sorted[i].timestamp < sorted[i - 1].timestamp) {
      return { reason: `the signed head at size ${sorted[i].treeSize} is older than the one at size ${sorted[i - 1].treeSize}` };
    }
  }
  return { bySize };
}

interface RangeFolder {
  dir: string;
  manifest: ExportManifest;
  heads: TreeHeadsFile;
}

/** A range export's manifest and heads, null if the folder is not a range export. */
function readRangeFolder(dir: string): RangeFolder | { reason: string } | null {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, EXPORT_FILES.manifest), 'utf8')) as ExportManifest;
    if (manifest.scope !== 'range' || manifest.kind !== 'native') return null;
    for (const f of [EXPORT_FILES.entries, EXPORT_FILES.proofs, EXPORT_FILES.heads]) {
      if (!existsSync(join(dir, f))) return { reason: `the folder has no ${f}` };
    }
    const heads = JSON.parse(readFileSync(join(dir, EXPORT_FILES.heads), 'utf8')) as TreeHeadsFile;
    return { dir, manifest, heads };
  } catch {
    return null; // readFolder reports what is wrong
  }
}

const fromHex = (h: unknown): Buffer | null => (typeof h === 'string' && /^[0-9a-f]{64}$/.test(h) ? Buffer.from(h, 'hex') : null);

/** Range export: each entry's inclusion proof against the latest head, and every head consistent with it. */
async function verifyRange(f: RangeFolder, trusted: Uint8Array[], opts: VerifyOptions): Promise<VerifyResult> {
  const sodium = await getSodium();
  if (opts.to !== undefined) return { ok: false, reason: 'a range export is checked against its own latest head; --to does not apply' };
  const heads = Array.isArray(f.heads.heads) ? f.heads.heads : [];
  const all = opts.from ? [...heads, opts.from] : heads;
  const checked = checkHeadSet(all, heads, trusted, sodium);
  if ('reason' in checked) return { ok: false, reason: checked.reason };
  const n = f.manifest.treeSize;
  const final = checked.bySize.get(n);
  if (!final) return { ok: false, reason: `no signed head at the export's tree size ${n}` };
  const rootN = Buffer.from(final.rootHash, 'hex');
  for (const [m, h] of checked.bySize) {
    if (m === n || m === 0) continue;
    if (m > n) return { ok: false, reason: `the head at size ${m} is beyond the export's tree size ${n}: the log was truncated` };
    const c = (f.heads.consistency ?? []).find((x) => x.fromSize === m && x.toSize === n);
    const path = c && Array.isArray(c.path) ? c.path.map(fromHex) : null;
    if (!path || path.some((p) => p === null)) {
      return { ok: false, reason: `no consistency proof from size ${m} to ${n} in ${EXPORT_FILES.heads}${h === opts.from ? ' (ask for an export that includes your kept head)' : ''}` };
    }
    if (!verifyConsistency(m, n, path as Buffer[], Buffer.from(h.rootHash, 'hex'), rootN)) {
      return { ok: false, reason: `the head at size ${m} is not consistent with the head at size ${n}: history was rewritten` };
    }
  }
  const { from, to } = f.manifest.entries ?? { from: 0, to: 0 };
  const entries = createInterface({ input: createReadStream(join(f.dir, EXPORT_FILES.entries), 'utf8'), crlfDelay: Infinity })[Symbol.asyncIterator]();
  const proofs = createInterface({ input: createReadStream(join(f.dir, EXPORT_FILES.proofs), 'utf8'), crlfDelay: Infinity })[Symbol.asyncIterator]();
  let k = 0;
  for (;;) {
    const [e, p] = await Promise.all([entries.next(), proofs.next()]);
    if (e.done !== p.done) {
      return { ok: false, reason: `${EXPORT_FILES.entries} and ${EXPORT_FILES.proofs} have different numbers of lines`, firstBadIndex: from + k };
    }
    if (e.done) break;
    const index = from + k;
    let proof: ProofLine;
    try {
      proof = JSON.parse(p.value) as ProofLine;
    } catch {
      return { ok: false, reason: `proof line ${k + 1} is not valid JSON`, firstBadIndex: index };
    }
    if (proof.index !== index) return { ok: false, reason: `entry ${index} is missing from the export`, firstBadIndex: index, entry: { index } };
    const parsed = parseEntry(e.value);
    if (!parsed.ok) return { ok: false, reason: `entry ${index}: ${parsed.reason}`, firstBadIndex: index, entry: { index } };
    const path = Array.isArray(proof.auditPath) ? proof.auditPath.map(fromHex) : [null];
    if (path.some((x) => x === null) || !verifyInclusion(leafHash(e.value), index, n, path as Buffer[], rootN)) {
      return {
        ok: false,
        reason: `entry ${index} is not included in the signed head at size ${n}: it was altered`,
        firstBadIndex: index,
        entry: { index, event: String(parsed.entry.event), time: String(parsed.entry.time) },
      };
    }
    k++;
  }
  if (from + k !== to) return { ok: false, reason: `the export should hold entries ${from}–${to - 1} but holds ${k}`, firstBadIndex: from + k };
  return { ok: true, size: n, heads: heads.length, latest: final, unsignedTail: 0, scope: 'range', entriesChecked: k };
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
  const file = join(dir, EXPORT_FILES.entries);
  // An entry is a few hundred bytes: a size estimate is enough to choose the workers.
  return { batches: () => exportBatches(file), approxEntries: Math.floor(statSync(file).size / 300), heads };
}

/**
 * An export's entries file as batches of complete lines, read in large chunks and cut after
 * the chunk's last "\n" (which never falls inside a UTF-8 character). The lines are split
 * and checked where the batch is checked (leaf-check.ts).
 */
async function* exportBatches(file: string): AsyncGenerator<SourceBatch> {
  const own = (b: Uint8Array): ArrayBuffer => {
    const copy = new Uint8Array(b.length);
    copy.set(b);
    return copy.buffer;
  };
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
    const buf = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    const cut = buf.lastIndexOf(10);
    if (cut < 0) {
      rest = Buffer.from(buf);
      continue;
    }
    rest = Buffer.from(buf.subarray(cut + 1));
    yield { task: { kind: 'lines', bytes: own(buf.subarray(0, cut + 1)) } };
  }
  if (rest.length) yield { task: { kind: 'lines', bytes: own(rest) } };
}

async function verifySource(src: Source, trusted: Uint8Array[], opts: VerifyOptions): Promise<VerifyResult> {
  const sodium = await getSodium();
  const all = [...src.heads];
  const to = typeof opts.to === 'number' ? undefined : opts.to;
  const limit = typeof opts.to === 'number' ? opts.to : (opts.to?.treeSize ?? Infinity);
  for (const extra of [opts.from, to]) if (extra) all.push(extra);

  const checked = checkHeadSet(all, src.heads, trusted, sodium);
  if ('reason' in checked) return { ok: false, reason: checked.reason };
  const bySize = checked.bySize;
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

  // 3–5. stream the entries: checked and hashed in batches (on worker threads for a large log),
  // the tree built here in order, each head checked when the tree reaches its size.
  const builder = new TreeBuilder();
  const onNode = src.storedTree ? src.storedTree.onNode : undefined;
  const workers = opts.workers ?? defaultVerifyWorkers(src.approxEntries);
  const checkers = leafCheckers(workers);
  /** Takes one checked batch into the tree; a result ends the pass (done, or a failure). */
  const take = (batch: LeafBatch, gapAfter: boolean): VerifyResult | 'done' | null => {
    const gap = gapAfter || batch.gap === true;
    for (let j = 0; j < batch.count; j++) {
      if (builder.size >= limit) return 'done';
      builder.push(Buffer.from(batch.leaves, j * 32, 32), onNode);
      if (t < targets.length && targets[t].treeSize === builder.size) {
        const bad = checkHeadsAt(builder.size, builder.root());
        if (bad) return bad;
      }
    }
    const i = builder.size;
    if (i >= limit) return 'done';
    const fault = batch.fault;
    if (fault?.kind === 'entry') return { ok: false, reason: `entry ${i}: ${fault.reason}`, firstBadIndex: i, entry: { index: i } };
    if (fault?.kind === 'leaf') {
      const named = { index: i, event: fault.event, time: fault.time };
      return { ok: false, reason: `entry ${i} does not match its recorded leaf hash: it was altered after it was written`, firstBadIndex: i, entry: named };
    }
    if (gap) return { ok: false, reason: `entry ${i} is missing: entries were deleted`, firstBadIndex: i, entry: { index: i } };
    return null;
  };
  try {
    // A few batches in flight per worker keep every core busy while memory stays bounded.
    const window: { checked: Promise<LeafBatch>; gap: boolean }[] = [];
    const inFlight = Math.max(1, 2 * checkers.threads);
    let ended: VerifyResult | 'done' | null = null;
    for await (const b of src.batches(checkers.threads > 0)) {
      const checked = checkers.check(b.task);
      checked.catch(() => {}); // a failed worker rejects every batch in flight: the first one awaited reports it
      window.push({ checked, gap: b.gap === true });
      if (window.length > inFlight) {
        const next = window.shift()!;
        ended = take(await next.checked, next.gap);
        if (ended) break;
      }
    }
    while (!ended && window.length) {
      const next = window.shift()!;
      ended = take(await next.checked, next.gap);
    }
    if (ended && ended !== 'done') return ended;
  } finally {
    await checkers.close();
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
  const treeBad = src.storedTree?.result(count) ?? null;
  if (treeBad) {
    const { level, index } = treeBad;
    return {
      ok: false,
      reason: `stored subtree hash (level ${level}, index ${index}) is missing or does not match the entries below it: the tree was altered`,
      range: [index * 2 ** level, Math.min(count, (index + 1) * 2 ** level) - 1],
    };
  }
  const latest = targets.length > 0 ? targets[targets.length - 1] : null;
  const latestHead = latest ? [...src.heads, ...all].filter((h) => h.treeSize === latest.treeSize).sort((a, b) => b.timestamp - a.timestamp)[0] : null;
  return {
    ok: true,
    size: count,
    heads: src.heads.filter((h) => h.treeSize <= limit).length,
    latest: latestHead,
    unsignedTail: count - (latest?.treeSize ?? 0),
    scope: 'full',
    entriesChecked: count,
  };
}

const iso = (ms: number) => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};
