/**
 * The append-only audit log: entries in SQLite, an RFC 6962 Merkle tree kept as
 * complete-subtree hashes, signed tree heads, inclusion and consistency proofs.
 *
 * append() runs inside the caller's open transaction on the same handle (so an audit
 * entry and the queue change it records commit or roll back together); called outside
 * a transaction it opens its own. It writes the entry rows only; build() hashes them into
 * the tree later, in batches (the tree is derived from the entries, so it can always be
 * rebuilt), and every reader of the tree builds it first. Nothing is cached across calls:
 * every read goes to the database, so a rolled-back append leaves no trace in memory either.
 */
import type { AuditEvent, AuditSink } from '../model/index.js';
import type { Db } from '../store/index.js';
import { toEntry, entryText, type AuditEntry } from './entry.js';
import { treeHeadBytes, type Signer, type SignedTreeHead } from './heads.js';
import {
  consistencyPath,
  EMPTY_ROOT,
  foldSubtrees,
  inclusionPath,
  leafHash,
  nodeHash,
  subtreeRanges,
  type Hash,
} from './merkle.js';
import { migrateAudit } from './schema.js';

export interface AuditLogOptions {
  signer?: Signer;
  clock?: () => Date;
}

export interface StoredEntry {
  index: number;
  /** The exact canonical JSON that was hashed. */
  text: string;
  entry: AuditEntry;
}

export interface InclusionProof {
  leafIndex: number;
  treeSize: number;
  leafHash: Hash;
  auditPath: Hash[];
}

export class AuditLogError extends Error {
  override name = 'AuditLogError';
}

interface HeadRow {
  tree_size: number;
  timestamp: number;
  root_hash: string;
  key_id: string;
  signature: string;
}

const rowToHead = (r: HeadRow): SignedTreeHead => ({
  v: 1,
  treeSize: r.tree_size,
  timestamp: r.timestamp,
  rootHash: r.root_hash,
  keyId: r.key_id,
  signature: r.signature,
});

export class AuditLog implements AuditSink {
  private readonly clock: () => Date;
  private readonly signer?: Signer;
  private strippedFields = 0;
  private readonly q;

  private constructor(
    readonly db: Db,
    opts: AuditLogOptions,
  ) {
    this.clock = opts.clock ?? (() => new Date());
    this.signer = opts.signer;
    this.q = {
      size: db.prepare('SELECT idx FROM audit_entries ORDER BY idx DESC LIMIT 1').pluck(),
      builtSize: db.prepare('SELECT idx FROM audit_nodes WHERE level = 0 ORDER BY idx DESC LIMIT 1').pluck(),
      unbuilt: db.prepare('SELECT idx, entry FROM audit_entries WHERE idx >= ? ORDER BY idx LIMIT ?'),
      insertEntry: db.prepare(
        'INSERT INTO audit_entries (idx, time, event, message_id, patient_token, destination, entry) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      insertNode: db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      node: db.prepare('SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?').pluck(),
      entry: db.prepare('SELECT entry FROM audit_entries WHERE idx = ?').pluck(),
      byMessage: db.prepare('SELECT idx, entry FROM audit_entries WHERE message_id = ? ORDER BY idx'),
      insertHead: db.prepare(
        'INSERT INTO audit_tree_heads (tree_size, timestamp, root_hash, key_id, signature) VALUES (?, ?, ?, ?, ?)',
      ),
      latestHead: db.prepare(
        'SELECT tree_size, timestamp, root_hash, key_id, signature FROM audit_tree_heads ORDER BY tree_size DESC, timestamp DESC, id DESC LIMIT 1',
      ),
      heads: db.prepare(
        'SELECT tree_size, timestamp, root_hash, key_id, signature FROM audit_tree_heads ORDER BY tree_size, timestamp, id',
      ),
      key: db.prepare('SELECT public_key FROM audit_keys WHERE key_id = ?').pluck(),
      insertKey: db.prepare('INSERT INTO audit_keys (key_id, public_key, first_used) VALUES (?, ?, ?)'),
      keys: db.prepare('SELECT key_id, public_key FROM audit_keys ORDER BY first_used, key_id'),
    };
  }

  /** Creates the audit_* tables if needed and prepares every statement once. */
  static open(db: Db, opts: AuditLogOptions = {}): AuditLog {
    migrateAudit(db);
    return new AuditLog(db, opts);
  }

  /**
   * AuditSink: validate all events first, then write them (within the caller's transaction).
   * Only the entry rows are written here: the leaf and interior hashes are derived data,
   * built in batches by build() (see there), so the acknowledgement's transaction does no
   * hashing and no node reads or writes.
   */
  append(events: AuditEvent[]): void {
    if (events.length === 0) return;
    const prepared = events.map((e) => {
      const { entry, stripped } = toEntry(e);
      if (stripped.length > 0) this.strippedFields += stripped.length;
      return { entry, text: entryText(entry) };
    });
    const write = () => {
      let n = this.size();
      for (const { entry, text } of prepared) {
        this.q.insertEntry.run(n, entry.time, entry.event, entry.messageId ?? null, entry.patientToken ?? null, entry.destination ?? null, text);
        n++;
      }
    };
    if (this.db.inTransaction) write();
    // IMMEDIATE: take the write lock before reading the size, so another process (a CLI
    // command auditing an admin action) cannot slip in between.
    else this.db.transaction(write).immediate();
  }

  /** How many leaves have their hashes in audit_nodes (a prefix of the log). */
  builtSize(): number {
    const last = this.q.builtSize.get() as number | undefined;
    return last === undefined ? 0 : last + 1;
  }

  /**
   * Hashes the entries not yet in the tree, at most `maxLeaves` of them, in one
   * transaction: each leaf hash and every interior node the new leaves complete
   * (O(log n) per leaf). Returns how many leaves it added. The tree is derived data:
   * a crash before this commits loses nothing, the next call rebuilds from the entries.
   * Called in the background after commits, and before anything reads the tree.
   */
  build(maxLeaves = 50_000): number {
    return this.db.transaction(() => {
      let n = this.builtSize();
      const rows = this.q.unbuilt.all(n, Math.max(1, Math.min(maxLeaves, 50_000))) as Array<{ idx: number; entry: string }>;
      // Even-indexed (left) nodes written in this batch, by level: saves reading them back.
      const lefts: Array<{ idx: number; hash: Hash } | undefined> = [];
      for (const r of rows) {
        if (r.idx !== n) throw new AuditLogError(`audit entry ${n} is missing: the log has a gap`);
        const leaf = leafHash(r.entry);
        this.q.insertNode.run(0, n, leaf);
        // Each time the new node is a right child, its parent subtree is complete.
        let h = leaf;
        let level = 0;
        let idx = n;
        while (idx % 2 === 1) {
          const cached = lefts[level];
          const left = cached && cached.idx === idx - 1 ? cached.hash : (this.q.node.get(level, idx - 1) as Buffer);
          h = nodeHash(left, h);
          level++;
          idx = (idx - 1) / 2;
          this.q.insertNode.run(level, idx, h);
        }
        lefts[level] = { idx, hash: h }; // the node this leaf completed last is a left child (idx even)
        n++;
      }
      return rows.length;
    }).immediate();
  }

  /** Builds the tree up to `n` leaves if it is behind (readers of the tree call this first). */
  private ensureBuilt(n: number): void {
    while (this.builtSize() < n) {
      if (this.db.readonly) throw new AuditLogError(`the Merkle tree is built to ${this.builtSize()} of ${n} entries; open the database read-write to build it`);
      if (this.build() === 0) throw new AuditLogError(`the Merkle tree cannot be built to ${n} entries`);
    }
  }

  size(): number {
    const last = this.q.size.get() as number | undefined;
    return last === undefined ? 0 : last + 1;
  }

  /** MTH of the first `size` entries (default: all). */
  root(size?: number): Hash {
    const n = size ?? this.size();
    this.checkSize(n);
    this.ensureBuilt(n);
    return n === 0 ? EMPTY_ROOT : this.mth(0, n, new Map());
  }

  /** Signs the current tree head with the injected signer and stores it. */
  signTreeHead(): SignedTreeHead {
    const signer = this.signer;
    if (!signer) throw new AuditLogError('no signer was given to AuditLog.open: cannot sign tree heads');
    return this.db.transaction(() => {
      const treeSize = this.size();
      const latest = this.latestHead();
      // Timestamps never go backwards, even if the clock does.
      const timestamp = Math.max(this.clock().getTime(), latest?.timestamp ?? 0);
      const unsigned = { v: 1 as const, treeSize, timestamp, rootHash: this.root(treeSize).toString('hex'), keyId: signer.keyId };
      const signature = Buffer.from(signer.sign(treeHeadBytes(unsigned))).toString('base64');
      const known = this.q.key.get(signer.keyId) as Buffer | undefined;
      if (known && !known.equals(Buffer.from(signer.publicKey))) {
        throw new AuditLogError(`key id ${signer.keyId} is already recorded with a different public key`);
      }
      if (!known) this.q.insertKey.run(signer.keyId, Buffer.from(signer.publicKey), this.clock().toISOString());
      this.q.insertHead.run(treeSize, timestamp, unsigned.rootHash, signer.keyId, signature);
      return { ...unsigned, signature };
    }).immediate();
  }

  latestHead(): SignedTreeHead | null {
    const r = this.q.latestHead.get() as HeadRow | undefined;
    return r ? rowToHead(r) : null;
  }

  /** Every stored head, by tree size then time. */
  heads(): SignedTreeHead[] {
    return (this.q.heads.all() as HeadRow[]).map(rowToHead);
  }

  /** Public keys recorded when heads were signed (not a trust anchor: pin the key out of band). */
  keys(): Array<{ keyId: string; publicKey: Uint8Array }> {
    return (this.q.keys.all() as Array<{ key_id: string; public_key: Buffer }>).map((r) => ({
      keyId: r.key_id,
      publicKey: new Uint8Array(r.public_key),
    }));
  }

  /** Audit path for leaf `index` in the tree of `treeSize` (default: the latest signed head's size, else all). */
  inclusionProof(index: number, treeSize?: number): InclusionProof {
    const n = treeSize ?? this.latestHead()?.treeSize ?? this.size();
    this.checkSize(n);
    if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
      throw new AuditLogError(`entry ${index} is not in a tree of size ${n}`);
    }
    this.ensureBuilt(n);
    const memo = new Map<string, Hash>();
    return {
      leafIndex: index,
      treeSize: n,
      leafHash: this.node(0, index, memo),
      auditPath: inclusionPath(index, n, (s, e) => this.mth(s, e, memo)),
    };
  }

  /** RFC 6962 consistency proof between sizes m ≤ n. */
  consistencyProof(m: number, n: number): Hash[] {
    this.checkSize(n);
    if (!Number.isSafeInteger(m) || m < 0 || m > n) throw new AuditLogError(`sizes ${m} and ${n} are not in order`);
    this.ensureBuilt(n);
    const memo = new Map<string, Hash>();
    return consistencyPath(m, n, (s, e) => this.mth(s, e, memo));
  }

  entry(index: number): StoredEntry | null {
    const text = this.q.entry.get(index) as string | undefined;
    return text === undefined ? null : { index, text, entry: JSON.parse(text) as AuditEntry };
  }

  findByMessageId(messageId: string): StoredEntry[] {
    return (this.q.byMessage.all(messageId) as Array<{ idx: number; entry: string }>).map((r) => ({
      index: r.idx,
      text: r.entry,
      entry: JSON.parse(r.entry) as AuditEntry,
    }));
  }

  /** Counters for metrics. */
  stats(): { strippedFields: number } {
    return { strippedFields: this.strippedFields };
  }

  private checkSize(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new AuditLogError(`tree size ${n} is not a whole number`);
    const size = this.size();
    if (n > size) throw new AuditLogError(`tree size ${n} is larger than the log (${size} entries)`);
  }

  private node(level: number, index: number, memo: Map<string, Hash>): Hash {
    const key = `${level}:${index}`;
    let h = memo.get(key);
    if (!h) {
      h = this.q.node.get(level, index) as Buffer | undefined;
      if (!h) throw new AuditLogError(`subtree hash (${level}, ${index}) is missing from audit_nodes`);
      memo.set(key, h);
    }
    return h;
  }

  /** MTH of [start, end) for the ranges RFC 6962's recursions ask for (aligned starts). */
  private mth(start: number, end: number, memo: Map<string, Hash>): Hash {
    return foldSubtrees(subtreeRanges(start, end).map((r) => this.node(r.level, r.index, memo)));
  }
}
