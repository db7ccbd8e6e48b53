import t from 'tap';
import { AuditLog, verifyInclusion, verifyConsistency, leafHash, AuditEventError, EMPTY_ROOT, treeHeadBytes, EXPORT_README } from '../../src/audit/index.js';
import { getSodium } from '../../src/crypto/sodium.js';
import { makeEvent, makeSigner, tempDb, steppingClock } from './helpers.js';

t.test('append inside the caller transaction commits with it and grows the tree', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, { signer: await makeSigner(), clock: steppingClock() });
  t.equal(log.size(), 0);
  t.ok(log.root().equals(EMPTY_ROOT), 'the empty log has the RFC 6962 empty root');
  db.exec('CREATE TABLE queue_items (id TEXT PRIMARY KEY) STRICT');
  const insert = db.prepare('INSERT INTO queue_items (id) VALUES (?)');
  db.transaction(() => {
    insert.run('m1');
    log.append([makeEvent({ messageId: 'm1', event: 'queued' }), makeEvent({ messageId: 'm1', event: 'decided' })]);
  })();
  t.equal(log.size(), 2);
  log.append([makeEvent()]); // outside a transaction: wraps its own
  t.equal(log.size(), 3);
  t.equal(log.findByMessageId('m1').length, 2);
  t.equal(log.entry(0)?.entry.event, 'queued');
  t.equal(log.entry(99), null);
  db.close();
});

t.test('an append inside a rolled-back transaction leaves no entry and no subtree hash', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  db.exec('CREATE TABLE queue_items (id TEXT PRIMARY KEY) STRICT');
  log.append([makeEvent(), makeEvent(), makeEvent()]);
  log.build(); // the tree is built after appends, in batches
  const before = { entries: db.prepare('SELECT count(*) FROM audit_entries').pluck().get(), nodes: db.prepare('SELECT count(*) FROM audit_nodes').pluck().get(), root: log.root() };
  t.throws(() =>
    db.transaction(() => {
      db.prepare('INSERT INTO queue_items (id) VALUES (?)').run('m-x');
      log.append([makeEvent({ messageId: 'm-x' })]);
      throw new Error('queue write failed');
    })(),
  );
  t.equal(db.prepare('SELECT count(*) FROM queue_items').pluck().get(), 0, 'the queue change rolled back');
  t.equal(db.prepare('SELECT count(*) FROM audit_entries').pluck().get(), before.entries, 'no audit entry');
  t.equal(db.prepare('SELECT count(*) FROM audit_nodes').pluck().get(), before.nodes, 'no subtree hash');
  t.ok(log.root().equals(before.root));
  log.append([makeEvent()]);
  t.equal(log.size(), 4, 'the next append takes the next index');
  db.close();
});

t.test('a bad event is refused before anything is written, even when the caller catches the error', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  db.transaction(() => {
    t.throws(() => log.append([makeEvent(), makeEvent({ patientToken: 'Ayesha Siddiqui' })]), AuditEventError);
  })();
  t.equal(log.size(), 0);
  t.throws(() => log.append([makeEvent({ time: 'yesterday' })]), /time/);
  t.throws(() => log.append([makeEvent({ event: 'exploded' as never })]), /event/);
  t.throws(() => log.append([makeEvent({ messageId: 'a b c' })]), /messageId/);
  t.throws(() => log.append([makeEvent({ policySha256: 'xyz' })]), /policySha256/);
  db.close();
});

t.test('proofs from the stored subtree hashes verify against signed heads', async (t) => {
  const { db } = tempDb();
  const signer = await makeSigner();
  const log = AuditLog.open(db, { signer, clock: steppingClock() });
  const heads = [];
  for (let batch = 0; batch < 9; batch++) {
    log.append(Array.from({ length: 13 + batch * 7 }, () => makeEvent()));
    heads.push(log.signTreeHead());
  }
  t.equal(log.latestHead()?.treeSize, log.size());
  t.equal(log.heads().length, 9);
  for (const i of [0, 1, 12, 13, 64, 100, log.size() - 1]) {
    const p = log.inclusionProof(i);
    t.equal(p.treeSize, log.size());
    t.ok(p.leafHash.equals(leafHash(log.entry(i)!.text)));
    t.ok(verifyInclusion(p.leafHash, i, p.treeSize, p.auditPath, Buffer.from(log.latestHead()!.rootHash, 'hex')), `entry ${i}`);
  }
  const early = heads[2];
  const p = log.inclusionProof(5, early.treeSize);
  t.ok(verifyInclusion(p.leafHash, 5, early.treeSize, p.auditPath, Buffer.from(early.rootHash, 'hex')), 'against an older head');
  for (const [a, b] of [[0, 3], [1, 2], [2, 8], [4, 5], [8, 8]]) {
    const m = heads[a].treeSize;
    const n = heads[b].treeSize;
    t.ok(verifyConsistency(m, n, log.consistencyProof(m, n), Buffer.from(heads[a].rootHash, 'hex'), Buffer.from(heads[b].rootHash, 'hex')), `consistency ${m} → ${n}`);
  }
  t.throws(() => log.inclusionProof(log.size()), /not in a tree/);
  t.throws(() => log.consistencyProof(5, log.size() + 1), /larger than the log/);
  db.close();
});

t.test('signing needs a signer, timestamps never go back, and a key id cannot change its key', async (t) => {
  const { db } = tempDb();
  const times = ['2026-03-01T10:00:00Z', '2026-03-01T09:00:00Z'];
  const log = AuditLog.open(db, { signer: await makeSigner('k1'), clock: () => new Date(times.shift() ?? '2026-03-01T11:00:00Z') });
  log.append([makeEvent()]);
  const a = log.signTreeHead();
  const b = log.signTreeHead();
  t.ok(b.timestamp >= a.timestamp);
  t.throws(() => AuditLog.open(db, {}).signTreeHead(), /no signer/);
  const impostor = AuditLog.open(db, { signer: await makeSigner('k1') });
  t.throws(() => impostor.signTreeHead(), /different public key/);
  db.close();
});

t.test('the log tables refuse UPDATE and DELETE', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  log.append([makeEvent()]);
  log.build();
  t.throws(() => db.prepare("UPDATE audit_entries SET entry = '{}'").run(), /append-only/);
  t.throws(() => db.prepare('DELETE FROM audit_nodes').run(), /append-only/);
  db.close();
});

t.test('the signed bytes of a tree head are exactly what the export README tells a person to rebuild', async (t) => {
  const { db } = tempDb();
  const signer = await makeSigner('k-readme');
  const log = AuditLog.open(db, { signer, clock: () => new Date('2026-03-01T00:00:00Z') });
  log.append([makeEvent()]);
  const h = log.signTreeHead();
  const written = `{"keyId":"k-readme","rootHash":"${h.rootHash}","timestamp":${Date.parse('2026-03-01T00:00:00Z')},"treeSize":1,"type":"darwaza-audit-tree-head","v":1}`;
  t.equal(Buffer.from(treeHeadBytes(h)).toString('utf8'), written);
  t.match(EXPORT_README, '{"keyId":"...","rootHash":"...","timestamp":N,"treeSize":N,"type":"darwaza-audit-tree-head","v":1}');
  const sodium = await getSodium();
  t.ok(sodium.crypto_sign_verify_detached(Buffer.from(h.signature, 'base64'), Buffer.from(written), signer.publicKey));
  db.close();
});

t.test('appends write entries only; the tree is built later in batches, and every reader builds it first', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  const nodes = () => db.prepare('SELECT count(*) FROM audit_nodes').pluck().get() as number;
  db.transaction(() => log.append(Array.from({ length: 37 }, () => makeEvent())))();
  t.equal(nodes(), 0, 'no hashing inside the appending transaction');
  t.equal(log.builtSize(), 0);
  t.equal(log.build(10), 10, 'a bounded batch');
  t.equal(log.builtSize(), 10);
  // A reader of the tree builds the rest first, and the result equals a reference tree.
  const root = log.root();
  t.equal(log.builtSize(), 37);
  const { TreeBuilder, leafHash, verifyInclusion } = await import('../../src/audit/merkle.js');
  const ref = new TreeBuilder();
  for (let i = 0; i < 37; i++) ref.push(leafHash(log.entry(i)!.text));
  t.ok(root.equals(ref.root()), 'the root equals a tree built from the entries in one pass');
  log.append([makeEvent()]);
  const p = log.inclusionProof(37, 38);
  t.ok(verifyInclusion(p.leafHash, 37, 38, p.auditPath, log.root(38)), 'a proof for an entry appended after the last build verifies');
  t.equal(log.build(), 0, 'nothing left to build');
  db.close();
});

t.test('the background builder keeps the tree close behind the appends, in bounded batches', async (t) => {
  const { scheduleTreeBuild } = await import('../../src/audit/index.js');
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  const batches: number[] = [];
  const builder = scheduleTreeBuild({ build: (n) => (batches.push(log.build(n)), batches[batches.length - 1]) }, { everyMs: 20, maxLeaves: 7 });
  t.teardown(() => builder.stop());
  log.append(Array.from({ length: 30 }, () => makeEvent()));
  for (let i = 0; i < 500 && log.builtSize() < 30; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(log.builtSize(), 30, 'built up to the log size');
  t.ok(batches.every((n) => n <= 7), 'no batch larger than maxLeaves');
  builder.stop();
  db.close();
});
