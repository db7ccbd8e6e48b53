/**
 * The audit log's behaviour, asserted the same way against both stores: the SQLite AuditLog
 * (through a thin async adapter) and PostgresAuditLog. Run by postgres-log-sqlite.test.ts and
 * postgres-log.test.ts; not a test file itself (package.json tap exclude).
 */
import type { Test } from 'tap';
import { join } from 'node:path';
import {
  leafHash,
  TreeBuilder,
  verifyConsistency,
  verifyInclusion,
  verifyLog,
  type ExportManifest,
  type ExportOptions,
  type InclusionProof,
  type SignedTreeHead,
  type StoredEntry,
  type VerifyResult,
} from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { makeEvent, makeSigner, tempDir } from './helpers.js';

/** What the suite asks of a log: the PostgreSQL log's (async) face. */
export interface AsyncAuditLog {
  append(events: AuditEvent[]): Promise<unknown>;
  size(): Promise<number>;
  root(size?: number): Promise<Buffer>;
  signTreeHead(): Promise<SignedTreeHead>;
  latestHead(): Promise<SignedTreeHead | null>;
  heads(): Promise<SignedTreeHead[]>;
  inclusionProof(index: number, treeSize?: number): Promise<InclusionProof>;
  consistencyProof(m: number, n: number): Promise<Buffer[]>;
  entry(index: number): Promise<StoredEntry | null>;
  findByMessageId(messageId: string): Promise<StoredEntry[]>;
}

export interface OpenedLog {
  log: AsyncAuditLog;
  /** The node each entry must name (PostgreSQL), or undefined (SQLite entries name none). */
  node?: string;
  verify(publicKey: Uint8Array): Promise<VerifyResult>;
  exportTo(opts: ExportOptions): Promise<ExportManifest>;
  /** What an attacker with the database can do: rewrite one stored entry's text. */
  tamperEntry(index: number, edit: (text: string) => string): Promise<void>;
  /** Delete the last entries (and their tree nodes). */
  truncate(keep: number): Promise<void>;
}

export type AuditBackend = (t: Test, opts: { signer: Awaited<ReturnType<typeof makeSigner>>; clock: () => Date }) => Promise<OpenedLog>;

function clock() {
  let ms = Date.parse('2026-03-01T08:00:00.000Z');
  return () => new Date((ms += 1000));
}

async function filled(t: Test, open: AuditBackend, entries: number, every: number) {
  const signer = await makeSigner();
  const o = await open(t, { signer, clock: clock() });
  const events: AuditEvent[] = [];
  const heads: SignedTreeHead[] = [];
  for (let i = 0; i < entries; i += every) {
    const batch = Array.from({ length: Math.min(every, entries - i) }, () => makeEvent());
    events.push(...batch);
    await o.log.append(batch);
    heads.push(await o.log.signTreeHead());
  }
  return { ...o, signer, events, heads };
}

export function auditSuite(t: Test, open: AuditBackend): void {
  t.test('append: consecutive indices, entries read back, found by message id, named by node', async (t) => {
    const { log, node, events } = await filled(t, open, 30, 10);
    t.equal(await log.size(), 30);
    const e7 = await log.entry(7);
    t.equal(e7?.index, 7);
    t.equal(e7?.entry.messageId, events[7]!.messageId);
    t.equal(e7?.entry.event, 'delivered');
    if (node) t.equal((e7?.entry as { node?: string }).node, node, 'the entry names its node, inside the hashed text');
    t.equal(await log.entry(30), null);
    const found = await log.findByMessageId(events[12]!.messageId!);
    t.same(found.map((f) => f.index), [12]);
    t.equal(leafHash(found[0]!.text).length, 32);
  });

  t.test('root: the RFC 6962 root of the stored texts, at any size', async (t) => {
    const { log } = await filled(t, open, 45, 15);
    const texts: string[] = [];
    for (let i = 0; i < 45; i++) texts.push((await log.entry(i))!.text);
    const b = new TreeBuilder();
    const roots: string[] = [];
    for (const x of texts) {
      b.push(leafHash(x));
      roots.push(b.root().toString('hex'));
    }
    for (const n of [1, 2, 3, 16, 17, 31, 45]) t.equal((await log.root(n)).toString('hex'), roots[n - 1], `root at ${n}`);
    t.equal((await log.root()).toString('hex'), roots[44]);
  });

  t.test('inclusion and consistency proofs verify against signed heads', async (t) => {
    const { log, heads } = await filled(t, open, 37, 9);
    const last = heads.at(-1)!;
    t.equal(last.treeSize, 37);
    for (const i of [0, 1, 8, 9, 20, 35, 36]) {
      const p = await log.inclusionProof(i);
      t.equal(p.treeSize, 37);
      const leaf = leafHash((await log.entry(i))!.text);
      t.ok(leaf.equals(p.leafHash));
      t.ok(verifyInclusion(leaf, i, 37, p.auditPath, Buffer.from(last.rootHash, 'hex')), `entry ${i} is included`);
    }
    for (const h of heads.slice(0, -1)) {
      const path = await log.consistencyProof(h.treeSize, 37);
      t.ok(verifyConsistency(h.treeSize, 37, path, Buffer.from(h.rootHash, 'hex'), Buffer.from(last.rootHash, 'hex')), `head ${h.treeSize} is a prefix of 37`);
    }
    await t.rejects(log.inclusionProof(37), /not in a tree/);
    await t.rejects(log.consistencyProof(5, 99), /larger than the log/);
  });

  t.test('heads: stored in order, timestamps never go back, latest is the biggest', async (t) => {
    const { log, heads } = await filled(t, open, 40, 10);
    const stored = await log.heads();
    t.same(stored.map((h) => h.treeSize), [10, 20, 30, 40]);
    t.same(stored, heads);
    t.same(await log.latestHead(), heads.at(-1));
    for (let i = 1; i < stored.length; i++) t.ok(stored[i]!.timestamp >= stored[i - 1]!.timestamp);
  });

  t.test('verify: an untouched log verifies against the pinned key, with its unsigned tail', async (t) => {
    const { log, verify, signer } = await filled(t, open, 60, 20);
    await log.append([makeEvent()]);
    const r = await verify(signer.publicKey);
    t.same(r.ok && { size: r.size, heads: r.heads, unsignedTail: r.unsignedTail }, { size: 61, heads: 3, unsignedTail: 1 });
    const other = await makeSigner();
    const bad = await verify(other.publicKey);
    t.equal(bad.ok, false, 'another key does not verify it');
  });

  t.test('exports: full and range exports verify offline with the same verifier', async (t) => {
    const { exportTo, signer } = await filled(t, open, 50, 25);
    const dir = tempDir();
    const full = await exportTo({ out: join(dir, 'full') });
    t.equal(full.treeSize, 50);
    const r1 = await verifyLog(join(dir, 'full'), signer.publicKey);
    t.same(r1.ok && [r1.size, r1.heads, r1.scope], [50, 2, 'full']);
    const range = await exportTo({ out: join(dir, 'range'), since: '2026-03-01T08:00:00.000Z', until: '2099-01-01T00:00:00.000Z', scope: 'range' });
    t.equal(range.scope, 'range');
    const r2 = await verifyLog(join(dir, 'range'), signer.publicKey);
    t.equal(r2.ok, true, r2.ok ? 'range export verifies' : r2.reason);
  });

  t.test('tamper: one altered entry fails verification, naming its index', async (t) => {
    const { verify, tamperEntry, signer, log } = await filled(t, open, 80, 20);
    const before = (await log.entry(33))!.text;
    await tamperEntry(33, (x) => x.replace('"decision":"permit"', '"decision":"deny"'));
    t.not((await log.entry(33))!.text, before);
    const r = await verify(signer.publicKey);
    t.equal(r.ok, false);
    if (!r.ok) {
      t.equal(r.firstBadIndex, 33);
      t.match(r.reason, /entry 33/);
    }
  });

  t.test('truncation: entries removed under a signed head fail verification', async (t) => {
    const { verify, truncate, signer } = await filled(t, open, 40, 20);
    await truncate(35);
    const r = await verify(signer.publicKey);
    t.equal(r.ok, false);
    if (!r.ok) t.match(r.reason, /40 entries but only 35|entry 35|subtree/);
  });
}
