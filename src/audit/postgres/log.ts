/**
 * The audit Merkle log on PostgreSQL: one log for every gateway sharing the database.
 *
 * Entries are the same canonical JSON as SQLite's (src/audit/entry.ts) with one more member,
 * `node`, naming the gateway that wrote it; it is hashed with the rest, so it cannot be
 * changed afterwards without the signed heads showing it. Leaf and node hashes, tree heads,
 * proofs and exports are the same, so `darwaza audit verify` checks both logs alike.
 *
 * Index assignment. append() takes pg_advisory_xact_lock(APPEND_LOCK) inside the writer's
 * transaction, reads the size (MAX(idx) + 1) and inserts at it; the lock is held until that
 * transaction ends. So indices are gap-free (a rollback releases the lock and leaves no rows;
 * a sequence would leave a hole the verifier reports as a deleted entry) and in commit order
 * (the next writer reads the size only after the previous COMMIT is visible). A counter row
 * updated in the transaction would give the same, with one more table to keep consistent;
 * the lock costs one statement and serialises only the tail of each writing transaction
 * (append is the last statement before COMMIT), never readers.
 *
 * The tree (audit_nodes) is derived data built in batches by build(), under its own lock so
 * two nodes never build the same leaves; every reader of the tree builds it up to what it
 * needs first. Signing a head takes a third lock so heads are stored in size and time order.
 */
import type pg from 'pg';
import type { AuditEvent } from '../../model/index.js';
import { entryText, toEntry, type AuditEntry } from '../entry.js';
import { treeHeadBytes, type Signer, type SignedTreeHead } from '../heads.js';
import { AuditLogError, type InclusionProof, type StoredEntry } from '../log.js';
import { consistencyPath, EMPTY_ROOT, foldSubtrees, inclusionPath, leafHash, nodeHash, subtreeRanges, type Hash, type Mth } from '../merkle.js';
import { migrateAuditPg } from './schema.js';
import { inPgTransaction, valuesList } from '../../store/index.js';

/** A connection inside a transaction (or the pool, for single statements). */
export type PgQueryable = Pick<pg.ClientBase, 'query'>;

/** An entry of the shared log: the node that wrote it is part of the hashed entry. */
export type PgAuditEntry = AuditEntry & { node: string };

export interface PostgresAuditLogOptions {
  /** postgres://… (a pool is opened and closed by the log), or a pool the caller owns. */
  url?: string;
  pool?: pg.Pool;
  /** Names this gateway in every entry it appends and head it signs. */
  nodeId: string;
  signer?: Signer;
  clock?: () => Date;
  poolMax?: number;
  /** Create or upgrade the tables (default true); tools that only read pass false. */
  migrate?: boolean;
}

/** Advisory lock keys (next to the queue's migration 0x64617277 and leader 0x64617278 locks). */
export const AUDIT_APPEND_LOCK = 0x64_61_72_79;
const AUDIT_BUILD_LOCK = 0x64_61_72_7a;
const AUDIT_HEAD_LOCK = 0x64_61_72_7b;

const NODE_ID = /^[A-Za-z0-9._:@|+=#~-]{1,128}$/;
/** Rows per multi-row INSERT (PostgreSQL takes at most 65535 parameters per statement). */
const ROWS = 1_000;
const MAX_BUILD = 50_000;

interface HeadRow {
  tree_size: string | number;
  timestamp: string | number;
  root_hash: string;
  key_id: string;
  signature: string;
}

const rowToHead = (r: HeadRow): SignedTreeHead => ({
  v: 1,
  treeSize: Number(r.tree_size),
  timestamp: Number(r.timestamp),
  rootHash: r.root_hash,
  keyId: r.key_id,
  signature: r.signature,
});

const HEAD_COLUMNS = 'tree_size, timestamp, root_hash, key_id, signature';


export class PostgresAuditLog {
  private readonly clock: () => Date;
  private readonly signer?: Signer;
  private strippedFields = 0;

  private constructor(
    readonly pool: pg.Pool,
    readonly nodeId: string,
    private readonly ownsPool: boolean,
    opts: PostgresAuditLogOptions,
  ) {
    this.clock = opts.clock ?? (() => new Date());
    this.signer = opts.signer;
  }

  /** Connects (or uses the given pool) and migrates the audit tables (idempotent, under a lock). */
  static async open(opts: PostgresAuditLogOptions): Promise<PostgresAuditLog> {
    if (!NODE_ID.test(opts.nodeId)) throw new AuditLogError('nodeId must be 1–128 identifier characters');
    if (!opts.pool && !opts.url) throw new AuditLogError('PostgresAuditLog.open needs a url or a pool');
    // Loaded only here: a gateway on SQLite, which imports the audit folder, never loads the driver.
    const pool = opts.pool ?? new (await import('pg')).default.Pool({ connectionString: opts.url, max: opts.poolMax ?? 4, connectionTimeoutMillis: 5_000 });
    if (!opts.pool) pool.on('error', () => {}); // an idle connection dropped by a restart; the next query reconnects
    try {
      const client = await pool.connect();
      try {
        if (opts.migrate !== false) await migrateAuditPg(client);
      } finally {
        client.release();
      }
    } catch (err) {
      if (!opts.pool) await pool.end().catch(() => {});
      throw err;
    }
    return new PostgresAuditLog(pool, opts.nodeId, !opts.pool, opts);
  }

  private get q(): PgQueryable {
    return this.pool as unknown as PgQueryable;
  }

  /** Runs fn in one transaction on one pooled connection. */
  inTx<T>(fn: (q: PgQueryable) => Promise<T>): Promise<T> {
    return inPgTransaction(this.pool, (err: unknown) => err, fn as (q: pg.PoolClient) => Promise<T>);
  }

  /** Validates every event (AuditEventError names the field) and returns the exact texts to store. */
  prepare(events: AuditEvent[]): Array<{ entry: PgAuditEntry; text: string }> {
    return events.map((e) => {
      const { entry, stripped } = toEntry(e);
      if (stripped.length > 0) this.strippedFields += stripped.length;
      const full: PgAuditEntry = { ...entry, node: this.nodeId };
      return { entry: full, text: entryText(full) };
    });
  }

  /** Throws AuditEventError (naming the field) if any event would be refused; stores nothing. */
  check(events: AuditEvent[]): void {
    for (const e of events) toEntry(e);
  }

  /**
   * Appends the events as consecutive entries inside `tx` (the caller's open transaction, so
   * the entries commit or roll back with the change they record), or in a transaction of its
   * own. Call it last in the transaction: the append lock is held until COMMIT. Returns the
   * first index used (-1 for no events).
   */
  async append(events: AuditEvent[], tx?: PgQueryable): Promise<number> {
    if (events.length === 0) return -1;
    const prepared = this.prepare(events);
    const write = async (q: PgQueryable): Promise<number> => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
      const first = await this.sizeOn(q);
      for (let i = 0; i < prepared.length; i += ROWS) {
        const part = prepared.slice(i, i + ROWS);
        const params = part.flatMap(({ entry, text }, k) => [
          first + i + k, entry.time, entry.event, entry.messageId ?? null, entry.patientToken ?? null, entry.destination ?? null, this.nodeId, text,
        ]);
        await q.query(
          `INSERT INTO audit_entries (idx, time, event, message_id, patient_token, destination, node, entry) VALUES ${valuesList(part.length, 8, ['bigint'])}`,
          params,
        );
      }
      return first;
    };
    return tx ? write(tx) : this.inTx(write);
  }

  private async sizeOn(q: PgQueryable): Promise<number> {
    const r = await q.query<{ idx: string }>('SELECT idx FROM audit_entries ORDER BY idx DESC LIMIT 1');
    return r.rows.length ? Number(r.rows[0]!.idx) + 1 : 0;
  }

  private async builtOn(q: PgQueryable): Promise<number> {
    const r = await q.query<{ idx: string }>('SELECT idx FROM audit_nodes WHERE level = 0 ORDER BY idx DESC LIMIT 1');
    return r.rows.length ? Number(r.rows[0]!.idx) + 1 : 0;
  }

  /** Committed entries (every node's). */
  size(): Promise<number> {
    return this.sizeOn(this.q);
  }

  /** How many leaves have their hashes in audit_nodes (a prefix of the log). */
  builtSize(): Promise<number> {
    return this.builtOn(this.q);
  }

  /**
   * Hashes up to `maxLeaves` entries not yet in the tree, with every interior node they
   * complete, in one transaction (or `tx`) under the build lock. The left siblings it needs
   * from before the batch are the complete subtrees of the built prefix, read in one query.
   * Returns how many leaves it added.
   */
  async build(maxLeaves = MAX_BUILD, tx?: PgQueryable): Promise<number> {
    const run = async (q: PgQueryable): Promise<number> => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_BUILD_LOCK]);
      let n = await this.builtOn(q);
      const rows = (
        await q.query<{ idx: string; entry: string }>('SELECT idx, entry FROM audit_entries WHERE idx >= $1 ORDER BY idx LIMIT $2', [
          n,
          Math.max(1, Math.min(maxLeaves, MAX_BUILD)),
        ])
      ).rows;
      if (rows.length === 0) return 0;
      const edge = subtreeRanges(0, n);
      const known = await this.nodesOn(q, edge);
      const stack = edge.map((r) => ({ level: r.level, index: r.index, hash: known.get(`${r.level}:${r.index}`)! }));
      const out: Array<{ level: number; index: number; hash: Hash }> = [];
      for (const r of rows) {
        if (Number(r.idx) !== n) throw new AuditLogError(`audit entry ${n} is missing: the log has a gap`);
        let node = { level: 0, index: n, hash: leafHash(r.entry) };
        out.push(node);
        while (stack.length > 0 && stack[stack.length - 1]!.level === node.level) {
          const left = stack.pop()!;
          node = { level: node.level + 1, index: left.index / 2, hash: nodeHash(left.hash, node.hash) };
          out.push(node);
        }
        stack.push(node);
        n++;
      }
      for (let i = 0; i < out.length; i += ROWS * 3) {
        const part = out.slice(i, i + ROWS * 3);
        await q.query(
          `INSERT INTO audit_nodes (level, idx, hash) VALUES ${valuesList(part.length, 3, ['smallint', 'bigint', 'bytea'])}`,
          part.flatMap((x) => [x.level, x.index, x.hash]),
        );
      }
      return rows.length;
    };
    return tx ? run(tx) : this.inTx(run);
  }

  private async ensureBuilt(n: number, q?: PgQueryable): Promise<void> {
    while ((await this.builtOn(q ?? this.q)) < n) {
      if ((await this.build(MAX_BUILD, q)) === 0) throw new AuditLogError(`the Merkle tree cannot be built to ${n} entries`);
    }
  }

  /** Stored subtree hashes by "level:index"; a missing one is an error (the tree was altered). */
  private async nodesOn(q: PgQueryable, wanted: Array<{ level: number; index: number }>): Promise<Map<string, Hash>> {
    const out = new Map<string, Hash>();
    if (wanted.length === 0) return out;
    const r = await q.query<{ level: number; idx: string; hash: Buffer }>(
      'SELECT n.level, n.idx, n.hash FROM audit_nodes n JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx',
      [wanted.map((w) => w.level), wanted.map((w) => w.index)],
    );
    for (const row of r.rows) out.set(`${row.level}:${Number(row.idx)}`, row.hash);
    for (const w of wanted) {
      if (!out.has(`${w.level}:${w.index}`)) throw new AuditLogError(`subtree hash (${w.level}, ${w.index}) is missing from audit_nodes`);
    }
    return out;
  }

  /**
   * Runs a proof recursion over the stored tree of size n: once to learn which subtrees it
   * needs (the recursions' shape depends on sizes only), then, after one query, with them.
   */
  private async overTree<T>(n: number, run: (mth: Mth) => T, q?: PgQueryable): Promise<T> {
    await this.ensureBuilt(n, q);
    const wanted = new Map<string, { level: number; index: number }>();
    run((s, e) => {
      for (const r of subtreeRanges(s, e)) wanted.set(`${r.level}:${r.index}`, r);
      return EMPTY_ROOT;
    });
    const hashes = await this.nodesOn(q ?? this.q, [...wanted.values()]);
    return run((s, e) => foldSubtrees(subtreeRanges(s, e).map((r) => hashes.get(`${r.level}:${r.index}`)!)));
  }

  private async checkSize(n: number, q?: PgQueryable): Promise<void> {
    if (!Number.isSafeInteger(n) || n < 0) throw new AuditLogError(`tree size ${n} is not a whole number`);
    const size = await this.sizeOn(q ?? this.q);
    if (n > size) throw new AuditLogError(`tree size ${n} is larger than the log (${size} entries)`);
  }

  /** MTH of the first `size` entries (default: all). */
  async root(size?: number, q?: PgQueryable): Promise<Hash> {
    const n = size ?? (await this.sizeOn(q ?? this.q));
    await this.checkSize(n, q);
    return n === 0 ? EMPTY_ROOT : this.overTree(n, (mth) => mth(0, n), q);
  }

  /**
   * Signs the head of every entry committed so far (all nodes') with the injected signer and
   * stores it, under the head lock: heads are stored in size order with timestamps that never
   * go back, whichever node signs.
   */
  async signTreeHead(): Promise<SignedTreeHead> {
    const signer = this.signer;
    if (!signer) throw new AuditLogError('no signer was given to PostgresAuditLog.open: cannot sign tree heads');
    return this.inTx(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_HEAD_LOCK]);
      const treeSize = await this.sizeOn(q);
      const latestRow = (await q.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_tree_heads ORDER BY tree_size DESC, timestamp DESC, id DESC LIMIT 1`)).rows[0];
      const latest = latestRow ? rowToHead(latestRow) : null;
      const timestamp = Math.max(this.clock().getTime(), latest?.timestamp ?? 0);
      const rootHash = (await this.root(treeSize, q)).toString('hex');
      const unsigned = { v: 1 as const, treeSize, timestamp, rootHash, keyId: signer.keyId };
      const signature = Buffer.from(signer.sign(treeHeadBytes(unsigned))).toString('base64');
      const known = (await q.query<{ public_key: Buffer }>('SELECT public_key FROM audit_keys WHERE key_id = $1', [signer.keyId])).rows[0]?.public_key;
      if (known && !known.equals(Buffer.from(signer.publicKey))) {
        throw new AuditLogError(`key id ${signer.keyId} is already recorded with a different public key`);
      }
      if (!known) {
        await q.query('INSERT INTO audit_keys (key_id, public_key, first_used) VALUES ($1, $2, $3)', [signer.keyId, Buffer.from(signer.publicKey), this.clock().toISOString()]);
      }
      await q.query(`INSERT INTO audit_tree_heads (${HEAD_COLUMNS}, node) VALUES ($1, $2, $3, $4, $5, $6)`, [treeSize, timestamp, rootHash, signer.keyId, signature, this.nodeId]);
      return { ...unsigned, signature };
    });
  }

  async latestHead(): Promise<SignedTreeHead | null> {
    const r = (await this.q.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_tree_heads ORDER BY tree_size DESC, timestamp DESC, id DESC LIMIT 1`)).rows[0];
    return r ? rowToHead(r) : null;
  }

  /** Every stored head, by tree size then time. */
  async heads(): Promise<SignedTreeHead[]> {
    return (await this.q.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_tree_heads ORDER BY tree_size, timestamp, id`)).rows.map(rowToHead);
  }

  /** Which node signed each head, in heads() order. */
  async headSigners(): Promise<Array<{ treeSize: number; node: string }>> {
    const r = await this.q.query<{ tree_size: string; node: string }>('SELECT tree_size, node FROM audit_tree_heads ORDER BY tree_size, timestamp, id');
    return r.rows.map((x) => ({ treeSize: Number(x.tree_size), node: x.node }));
  }

  /** Public keys recorded when heads were signed (not a trust anchor: pin the key out of band). */
  async keys(): Promise<Array<{ keyId: string; publicKey: Uint8Array }>> {
    const r = await this.q.query<{ key_id: string; public_key: Buffer }>('SELECT key_id, public_key FROM audit_keys ORDER BY first_used, key_id');
    return r.rows.map((x) => ({ keyId: x.key_id, publicKey: new Uint8Array(x.public_key) }));
  }

  /** Audit path for leaf `index` in the tree of `treeSize` (default: the latest signed head's size, else all). */
  async inclusionProof(index: number, treeSize?: number): Promise<InclusionProof> {
    const n = treeSize ?? (await this.latestHead())?.treeSize ?? (await this.size());
    await this.checkSize(n);
    if (!Number.isSafeInteger(index) || index < 0 || index >= n) throw new AuditLogError(`entry ${index} is not in a tree of size ${n}`);
    return this.overTree(n, (mth) => ({ leafIndex: index, treeSize: n, leafHash: mth(index, index + 1), auditPath: inclusionPath(index, n, mth) }));
  }

  /** RFC 6962 consistency proof between sizes m ≤ n. */
  async consistencyProof(m: number, n: number): Promise<Hash[]> {
    await this.checkSize(n);
    if (!Number.isSafeInteger(m) || m < 0 || m > n) throw new AuditLogError(`sizes ${m} and ${n} are not in order`);
    return this.overTree(n, (mth) => consistencyPath(m, n, mth));
  }

  async entry(index: number): Promise<(StoredEntry & { node: string }) | null> {
    const r = (await this.q.query<{ entry: string; node: string }>('SELECT entry, node FROM audit_entries WHERE idx = $1', [index])).rows[0];
    return r ? { index, text: r.entry, entry: JSON.parse(r.entry) as AuditEntry, node: r.node } : null;
  }

  async findByMessageId(messageId: string): Promise<Array<StoredEntry & { node: string }>> {
    const r = await this.q.query<{ idx: string; entry: string; node: string }>('SELECT idx, entry, node FROM audit_entries WHERE message_id = $1 ORDER BY idx', [messageId]);
    return r.rows.map((x) => ({ index: Number(x.idx), text: x.entry, entry: JSON.parse(x.entry) as AuditEntry, node: x.node }));
  }

  /** Entries [from, to) in index order, at most `limit` (exports and the verifier page with it). */
  async page(from: number, to: number, limit = 5_000): Promise<Array<{ index: number; text: string; storedLeaf: Buffer | null }>> {
    const r = await this.q.query<{ idx: string; entry: string; leaf: Buffer | null }>(
      `SELECT e.idx, e.entry, n.hash AS leaf FROM audit_entries e LEFT JOIN audit_nodes n ON n.level = 0 AND n.idx = e.idx
        WHERE e.idx >= $1 AND e.idx < $2 ORDER BY e.idx LIMIT $3`,
      [from, to, limit],
    );
    return r.rows.map((x) => ({ index: Number(x.idx), text: x.entry, storedLeaf: x.leaf }));
  }

  /** Counters for metrics. */
  stats(): { strippedFields: number } {
    return { strippedFields: this.strippedFields };
  }

  /** Closes the pool if the log opened it. */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end().catch(() => {});
  }
}
