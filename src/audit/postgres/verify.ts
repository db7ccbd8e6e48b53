/**
 * Verifies the PostgreSQL audit log with the same verifier as every other log: its entries
 * (all of them, signed or not) and heads are written to a private temp folder in the export
 * format and checked by verifyLog (signatures under the pinned key, no fork, gap-free
 * indices, canonical entries, every root recomputed from index 0, nothing truncated).
 * Two database-only checks come from the stored tree, as for SQLite: each entry against its
 * stored leaf hash, which names the first altered entry, and each stored interior hash
 * against its children (proofs are served from them).
 */
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEntry } from '../entry.js';
import { EXPORT_FILES, type ExportManifest } from '../export.js';
import { leafHash, nodeHash } from '../merkle.js';
import { verifyLog, type VerifyOptions, type VerifyResult } from '../verify.js';
import { pagesOf } from './export.js';
import type { PostgresAuditLog } from './log.js';
import { verifySegments } from './segments.js';

export async function verifyPostgresLog(log: PostgresAuditLog, trustedPublicKey: Uint8Array | Uint8Array[], opts: VerifyOptions = {}): Promise<VerifyResult> {
  const checkNodes = opts.checkStoredNodes ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-audit-verify-'));
  try {
    const built = await log.builtSize();
    const heads = await log.heads();
    const size = await log.size();
    let altered: { index: number; text: string } | undefined;
    let count = 0;
    const fd = openSync(join(dir, EXPORT_FILES.entries), 'w', 0o600);
    try {
      for await (const rows of pagesOf(log, 0, size)) {
        for (const r of rows) {
          if (r.index !== count) return { ok: false, reason: `entry ${count} is missing: entries were deleted`, firstBadIndex: count, entry: { index: count } };
          count++;
          if (checkNodes && !altered && r.index < built && (!r.storedLeaf || !r.storedLeaf.equals(leafHash(r.text)))) altered = r;
        }
        writeSync(fd, rows.map((r) => r.text).join('\n') + '\n');
      }
    } finally {
      closeSync(fd);
    }
    const manifest: Partial<ExportManifest> = { format: 'darwaza-audit-export', v: 1, kind: 'native', scope: 'full', treeSize: count, entries: { from: 0, to: count } };
    writeFileSync(join(dir, EXPORT_FILES.manifest), JSON.stringify(manifest));
    writeFileSync(join(dir, EXPORT_FILES.heads), JSON.stringify({ heads }));
    if (heads.length === 0) return { ok: false, reason: 'no signed tree head yet: nothing vouches for the log' };
    const result = await verifyLog(dir, trustedPublicKey, opts);
    // A head-level failure (signature, fork, time) stands; an entry-level one is named by the stored leaf.
    const entryLevel = !result.ok && (result.range !== undefined || result.firstBadIndex !== undefined);
    if (altered && (result.ok || entryLevel)) {
      const parsed = parseEntry(altered.text);
      return {
        ok: false,
        reason: `entry ${altered.index} does not match its recorded leaf hash: it was altered after it was written`,
        firstBadIndex: altered.index,
        entry: parsed.ok ? { index: altered.index, event: String(parsed.entry.event), time: String(parsed.entry.time) } : { index: altered.index },
      };
    }
    if (!result.ok) return result;
    // An earlier log this one continues (an appliance moved to PostgreSQL): verified, and linked by entry 0.
    const prior = await verifySegments(log, trustedPublicKey);
    if (prior && !prior.ok) return { ok: false, reason: prior.reason, firstBadIndex: 0 };
    const withPrior = prior ? { ...result, priorSegments: { segments: prior.segments, entries: prior.entries } } : result;
    if (!checkNodes) return withPrior;
    const signed = heads.reduce((m, h) => Math.max(m, h.treeSize), 0);
    if (built < Math.min(signed, count)) {
      return { ok: false, reason: `stored subtree hash (level 0, index ${built}) is missing or does not match the entries below it: the tree was altered`, range: [built, built] };
    }
    const bad = await checkStoredTree(log, Math.min(count, built));
    if (bad) {
      return {
        ok: false,
        reason: `stored subtree hash (level ${bad.level}, index ${bad.index}) is missing or does not match the entries below it: the tree was altered`,
        range: [bad.index * 2 ** bad.level, Math.min(count, (bad.index + 1) * 2 ** bad.level) - 1],
      };
    }
    return withPrior;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each stored interior hash must be the node hash of its two stored children: one scan per level. */
async function checkStoredTree(log: PostgresAuditLog, size: number): Promise<{ level: number; index: number } | null> {
  const CHUNK = 4096;
  const level = async (l: number, from: number, to: number) =>
    (await log.pool.query<{ idx: string; hash: Buffer }>('SELECT idx, hash FROM audit_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx', [l, from, to])).rows.map((r) => ({
      idx: Number(r.idx),
      hash: r.hash,
    }));
  for (let l = 1; Math.floor(size / 2 ** l) > 0; l++) {
    const count = Math.floor(size / 2 ** l);
    for (let p0 = 0; p0 < count; p0 += CHUNK) {
      const p1 = Math.min(count, p0 + CHUNK);
      const parents = await level(l, p0, p1);
      const children = await level(l - 1, 2 * p0, 2 * p1);
      for (let i = 0; i < p1 - p0; i++) {
        const p = parents[i];
        const a = children[2 * i];
        const b = children[2 * i + 1];
        if (!p || p.idx !== p0 + i || !a || !b || a.idx !== 2 * (p0 + i) || b.idx !== a.idx + 1 || !p.hash.equals(nodeHash(a.hash, b.hash))) {
          return { level: l, index: p0 + i };
        }
      }
    }
  }
  return null;
}
