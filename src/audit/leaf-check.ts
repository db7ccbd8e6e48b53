/**
 * The per-entry half of verification, as one pure function over a batch: each entry is JSON,
 * canonical, and (from the database) matches its stored leaf hash; its leaf hash is returned.
 * The tree itself is built by the caller, in order. Batches run in worker threads for large
 * logs (verify-workers.ts) and in-process otherwise: the same function either way.
 */
import Database from 'better-sqlite3';
import { parseEntry } from './entry.js';
import { leafHash } from './merkle.js';

const HASH_BYTES = 32;

/** A batch: entry texts (database), or complete UTF-8 lines of an export file. */
export type LeafTask =
  | { kind: 'texts'; texts: string[]; stored?: (Uint8Array | null | undefined)[] }
  | { kind: 'lines'; bytes: ArrayBuffer }
  /** Entries [from, to) of a database file, read by the checker itself; stored leaves compared below `storedBelow`. */
  | { kind: 'db-range'; file: string; from: number; to: number; storedBelow: number };

export type LeafFault = { kind: 'entry'; reason: string } | { kind: 'leaf'; event: string; time: string };

export interface LeafBatch {
  /** Entries checked and hashed before the first fault (all of them when there is none). */
  count: number;
  /** count × 32 bytes: their leaf hashes, in order. */
  leaves: ArrayBuffer;
  /** The entry at position `count` failed, and why. */
  fault?: LeafFault;
  /** No fault, but the entry at position `count` is missing (db-range). */
  gap?: boolean;
}

/** An export's lines: "\n" ends a line, a CRLF file's "\r" is dropped, empty lines are skipped. */
export function exportLines(bytes: ArrayBuffer): string[] {
  const out: string[] = [];
  for (let line of Buffer.from(bytes).toString('utf8').split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line !== '') out.push(line);
  }
  return out;
}

/** One read-only connection per database file, kept for the worker's life. */
const readers = new Map<string, { entries: Database.Statement; leaves: Database.Statement }>();

function readRange(task: Extract<LeafTask, { kind: 'db-range' }>): { texts: string[]; stored: (Uint8Array | null | undefined)[]; gap: boolean } {
  let r = readers.get(task.file);
  if (!r) {
    const db = new Database(task.file, { readonly: true, fileMustExist: true });
    r = {
      entries: db.prepare('SELECT idx, entry FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx').raw(true),
      leaves: db.prepare('SELECT idx, hash FROM audit_nodes WHERE level = 0 AND idx >= ? AND idx < ? ORDER BY idx').raw(true),
    };
    readers.set(task.file, r);
  }
  const texts: string[] = [];
  let gap = false;
  for (const [idx, text] of r.entries.all(task.from, task.to) as Array<[number, string]>) {
    if (idx !== task.from + texts.length) break;
    texts.push(text);
  }
  if (texts.length < task.to - task.from) gap = true;
  const stored: (Uint8Array | null | undefined)[] = new Array(texts.length);
  for (let i = 0; i < texts.length; i++) stored[i] = task.from + i < task.storedBelow ? null : undefined;
  for (const [idx, hash] of r.leaves.all(task.from, Math.min(task.to, task.storedBelow)) as Array<[number, Uint8Array]>) {
    const i = idx - task.from;
    if (i < texts.length) stored[i] = hash;
  }
  return { texts, stored, gap };
}

export function checkLeaves(task: LeafTask): LeafBatch {
  if (task.kind === 'db-range') {
    const { texts, stored, gap } = readRange(task);
    const batch = checkLeaves({ kind: 'texts', texts, stored });
    return gap && !batch.fault ? { ...batch, gap } : batch;
  }
  const texts = task.kind === 'texts' ? task.texts : exportLines(task.bytes);
  const stored = task.kind === 'texts' ? task.stored : undefined;
  const leaves = new Uint8Array(texts.length * HASH_BYTES);
  for (let i = 0; i < texts.length; i++) {
    const parsed = parseEntry(texts[i]);
    if (!parsed.ok) return { count: i, leaves: leaves.buffer.slice(0, i * HASH_BYTES), fault: { kind: 'entry', reason: parsed.reason } };
    const leaf = leafHash(texts[i]);
    const s = stored?.[i];
    if (s !== undefined && (!s || !leaf.equals(s))) {
      return { count: i, leaves: leaves.buffer.slice(0, i * HASH_BYTES), fault: { kind: 'leaf', event: String(parsed.entry.event), time: String(parsed.entry.time) } };
    }
    leaves.set(leaf, i * HASH_BYTES);
  }
  return { count: texts.length, leaves: leaves.buffer };
}
