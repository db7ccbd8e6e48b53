/**
 * Earlier logs a shared log continues. An appliance moved to PostgreSQL (`darwaza store
 * migrate`) cannot copy its SQLite entries under their hashes: PostgreSQL entries name their
 * node inside the hashed text. So the SQLite log is closed under a last signed head and kept
 * whole, in its export format (which verifies offline), as a prior segment; the shared log's
 * first entry ('log-continued') names that head. The verifier checks both and the link.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditEvents } from '../events.js';
import { EXPORT_FILES } from '../export.js';
import { parseEntry } from '../entry.js';
import { verifyLog, type VerifyResult } from '../verify.js';
import type { SignedTreeHead } from '../heads.js';
import { AUDIT_APPEND_LOCK, type PostgresAuditLog } from './log.js';

export interface PriorSegment {
  seq: number;
  source: string;
  treeSize: number;
  rootHash: string;
  keyId: string;
}

/** The segments stored beside the log, oldest first (none on a database from before segments). */
export async function priorSegments(log: PostgresAuditLog): Promise<PriorSegment[]> {
  try {
    const rows = (await log.pool.query<{ seq: number; source: string; tree_size: string; root_hash: string; key_id: string }>('SELECT seq, source, tree_size, root_hash, key_id FROM audit_prior_segments ORDER BY seq')).rows;
    return rows.map((r) => ({ seq: r.seq, source: r.source, treeSize: Number(r.tree_size), rootHash: r.root_hash, keyId: r.key_id }));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return []; // the table does not exist: a log from before segments
    throw err;
  }
}

/**
 * Stores a closed log's export folder as the first prior segment and appends the entry that
 * continues it, in one transaction. The shared log must be empty: a log is continued from its
 * start. Returns the head the new log names.
 */
export async function continueFromSegment(log: PostgresAuditLog, exportDir: string, opts: { source: string; actor: string; clock?: () => Date }): Promise<SignedTreeHead> {
  const heads = (JSON.parse(readFileSync(join(exportDir, EXPORT_FILES.heads), 'utf8')) as { heads: SignedTreeHead[] }).heads;
  const last = heads.reduce<SignedTreeHead | undefined>((m, h) => (!m || h.treeSize > m.treeSize ? h : m), undefined);
  if (!last) throw new Error('the earlier log has no signed tree head: nothing vouches for it');
  const now = (opts.clock ?? (() => new Date()))();
  const files = readdirSync(exportDir).map((name) => ({ name, content: readFileSync(join(exportDir, name)) }));
  const client = await log.pool.connect();
  try {
    await client.query('BEGIN');
    // Under the append lock, so no node appends the log's first entry meanwhile.
    await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
    const size = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM audit_entries')).rows[0]!.n);
    if (size > 0) throw new Error(`the shared audit log already has ${size} entries: an earlier log can only be continued by an empty one`);
    await client.query('INSERT INTO audit_prior_segments (seq, source, tree_size, root_hash, key_id, stored_at) VALUES (1, $1, $2, $3, $4, $5)', [opts.source, last.treeSize, last.rootHash, last.keyId, now.toISOString()]);
    for (const f of files) await client.query('INSERT INTO audit_prior_segment_files (seq, name, content) VALUES (1, $1, $2)', [f.name, f.content]);
    await log.append([auditEvents.logContinued({ time: now, actor: opts.actor, priorTreeSize: last.treeSize, priorRootHash: last.rootHash, priorKeyId: last.keyId, reason: `continues the ${opts.source} log, closed under its last signed head` })], client);
    await client.query('COMMIT');
    return last;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Verifies each prior segment offline (the same verifier) and the link: the shared log's first
 * entry is 'log-continued' naming the segment's last signed head. Undefined when all holds.
 */
export async function verifySegments(log: PostgresAuditLog, trustedPublicKey: Uint8Array | Uint8Array[]): Promise<{ ok: false; reason: string } | { ok: true; segments: number; entries: number } | undefined> {
  const segments = await priorSegments(log);
  const first = await log.entry(0);
  const parsed = first ? parseEntry(first.text) : undefined;
  const continued = parsed?.ok && parsed.entry.event === 'log-continued' ? parsed.entry : undefined;
  if (segments.length === 0) {
    return continued ? { ok: false, reason: 'entry 0 continues an earlier log, but no earlier log is stored beside this one' } : undefined;
  }
  let entries = 0;
  for (const seg of segments) {
    const dir = mkdtempSync(join(tmpdir(), 'darwaza-segment-'));
    try {
      const files = (await log.pool.query<{ name: string; content: Buffer }>('SELECT name, content FROM audit_prior_segment_files WHERE seq = $1', [seg.seq])).rows;
      for (const f of files) {
        if (!/^[A-Za-z0-9._-]+$/.test(f.name)) return { ok: false, reason: `the earlier ${seg.source} log holds a file named unlike an export's` };
        writeFileSync(join(dir, f.name), f.content);
      }
      const r: VerifyResult = await verifyLog(dir, trustedPublicKey);
      if (!r.ok) return { ok: false, reason: `the earlier ${seg.source} log this one continues does not verify: ${r.reason}` };
      const latest = r.latest;
      if (!latest || latest.treeSize !== seg.treeSize || latest.rootHash !== seg.rootHash || latest.keyId !== seg.keyId) {
        return { ok: false, reason: `the earlier ${seg.source} log's last signed head is not the one recorded beside it` };
      }
      entries += r.size;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const last = segments[segments.length - 1]!;
  if (!continued || continued.priorTreeSize !== last.treeSize || continued.priorRootHash !== last.rootHash || continued.priorKeyId !== last.keyId) {
    return { ok: false, reason: `entry 0 does not name the last signed head of the earlier ${last.source} log (size ${last.treeSize})` };
  }
  return { ok: true, segments: segments.length, entries };
}
