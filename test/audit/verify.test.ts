import t from 'tap';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, verifyLog, exportLog, nodeHash, leafHash, type SignedTreeHead } from '../../src/audit/index.js';
import type { Db } from '../../src/store/index.js';
import { makeEvent, makeSigner, tempDb, tempDir, steppingClock } from './helpers.js';

/** What an attacker with the database file can do: drop the append-only triggers. */
function unlock(db: Db) {
  for (const tbl of ['audit_entries', 'audit_nodes', 'audit_tree_heads', 'audit_keys']) {
    db.exec(`DROP TRIGGER IF EXISTS ${tbl}_no_update; DROP TRIGGER IF EXISTS ${tbl}_no_delete;`);
  }
}

async function build(entries = 200, every = 50) {
  const { db, dir } = tempDb();
  const signer = await makeSigner();
  const log = AuditLog.open(db, { signer, clock: steppingClock() });
  const heads: SignedTreeHead[] = [];
  for (let i = 0; i < entries; i += every) {
    log.append(Array.from({ length: Math.min(every, entries - i) }, () => makeEvent()));
    heads.push(log.signTreeHead());
  }
  return { db, dir, log, signer, heads };
}

t.test('an untouched log verifies against the pinned key', async (t) => {
  const { db, signer, log } = await build();
  log.append([makeEvent()]); // not yet under a head
  const r = await verifyLog(db, signer.publicKey);
  t.same(r.ok && { size: r.size, heads: r.heads, unsignedTail: r.unsignedTail }, { size: 201, heads: 4, unsignedTail: 1 });
  db.close();
});

t.test('flipping one byte of one stored entry fails and names that entry', async (t) => {
  const { db, signer } = await build();
  unlock(db);
  const text = db.prepare('SELECT entry FROM audit_entries WHERE idx = 77').pluck().get() as string;
  const flipped = text.replace('"destination":"nhsp-pk"', '"destination":"nhsp-pl"');
  t.not(flipped, text);
  db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = 77').run(flipped);
  const r = await verifyLog(db, signer.publicKey);
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.firstBadIndex, 77);
    t.same(r.entry, { index: 77, event: 'delivered', time: JSON.parse(text).time });
    t.match(r.reason, /entry 77/);
  }
  db.close();
});

t.test('an attacker who also rewrites the stored hashes is caught by the signed head', async (t) => {
  const { db, signer } = await build();
  unlock(db);
  const text = db.prepare('SELECT entry FROM audit_entries WHERE idx = 120').pluck().get() as string;
  const forged = text.replace('"purpose":"TREAT"', '"purpose":"HRESCH"');
  db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = 120').run(forged);
  // recompute every stored hash above the forged leaf, as a careful attacker would
  let h = leafHash(forged);
  let level = 0;
  let idx = 120;
  db.prepare('UPDATE audit_nodes SET hash = ? WHERE level = 0 AND idx = 120').run(h);
  const get = db.prepare('SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?').pluck();
  for (;;) {
    const sib = get.get(level, idx ^ 1) as Buffer | undefined;
    if (!sib) break;
    h = idx % 2 ? nodeHash(sib, h) : nodeHash(h, sib);
    level++;
    idx = Math.floor(idx / 2);
    if (!get.get(level, idx)) break;
    db.prepare('UPDATE audit_nodes SET hash = ? WHERE level = ? AND idx = ?').run(h, level, idx);
  }
  const r = await verifyLog(db, signer.publicKey);
  t.equal(r.ok, false);
  if (!r.ok) {
    t.match(r.reason, /signed head at size 150/);
    t.same(r.range, [100, 149], 'the altered entry lies between the last good head and the failing one');
  }
  db.close();
});

t.test('deleting an entry fails', async (t) => {
  const { db, signer } = await build();
  unlock(db);
  db.prepare('DELETE FROM audit_entries WHERE idx = 30').run();
  const r = await verifyLog(db, signer.publicKey);
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.firstBadIndex, 30);
    t.match(r.reason, /missing/);
  }
  db.close();
});

t.test('rewriting history and re-signing with another key fails against the pinned key', async (t) => {
  const { db, signer } = await build();
  unlock(db);
  db.exec('DELETE FROM audit_entries; DELETE FROM audit_nodes; DELETE FROM audit_tree_heads; DELETE FROM audit_keys;');
  db.exec(`CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries BEGIN SELECT RAISE(ABORT, 'x'); END;`);
  const forger = await makeSigner('audit-key-1');
  const log = AuditLog.open(db, { signer: forger, clock: steppingClock() });
  for (let i = 0; i < 4; i++) {
    log.append(Array.from({ length: 50 }, () => makeEvent({ destination: 'elsewhere' })));
    log.signTreeHead();
  }
  t.equal((await verifyLog(db, forger.publicKey)).ok, true, 'self-consistent under the forger key');
  const r = await verifyLog(db, signer.publicKey);
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.reason, /not signed by the trusted key/);
  db.close();
});

t.test('truncating the log fails consistency with a head kept from before', async (t) => {
  const { db, signer, heads } = await build();
  const kept = heads[3]; // the regulator kept the head at size 200
  unlock(db);
  db.exec('DELETE FROM audit_entries WHERE idx >= 120; DELETE FROM audit_nodes; DELETE FROM audit_tree_heads WHERE tree_size > 120;');
  let r = await verifyLog(db, signer.publicKey, { checkStoredNodes: false });
  t.equal(r.ok, true, 'without the kept head a clean truncation is invisible (documented)');
  r = await verifyLog(db, signer.publicKey, { from: kept, checkStoredNodes: false });
  t.equal(r.ok, false);
  if (!r.ok) {
    t.match(r.reason, /truncated/);
    t.equal(r.firstBadIndex, 120);
  }
  r = await verifyLog(db, signer.publicKey);
  t.equal(r.ok, false, 'the stored subtree hashes no longer match');
  db.close();
});

t.test('an insider who truncates and appends new entries under the real key fails against the kept head', async (t) => {
  const { db, signer, heads } = await build();
  const kept = heads[2]; // size 150
  unlock(db);
  db.exec('DELETE FROM audit_entries WHERE idx >= 100; DELETE FROM audit_nodes WHERE NOT (level = 0 AND idx < 100); DELETE FROM audit_tree_heads WHERE tree_size > 100;');
  // rebuild interior nodes for the first 100 leaves, then append a different history
  const leaves = db.prepare('SELECT hash FROM audit_nodes WHERE level = 0 ORDER BY idx').pluck().all() as Buffer[];
  const ins = db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)');
  let row = leaves;
  for (let level = 1; row.length > 1; level++) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < row.length; i += 2) {
      next.push(nodeHash(row[i], row[i + 1]));
      ins.run(level, i / 2, next[next.length - 1]);
    }
    row = next;
  }
  const log = AuditLog.open(db, { signer, clock: steppingClock('2026-04-01T00:00:00Z') });
  log.append(Array.from({ length: 100 }, () => makeEvent({ destination: 'rewritten' })));
  log.signTreeHead();
  t.equal((await verifyLog(db, signer.publicKey)).ok, true, 'self-consistent on its own');
  const r = await verifyLog(db, signer.publicKey, { from: kept });
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.reason, /forked|signed head at size 150/);
  db.close();
});

t.test('an export verifies offline from the folder alone, and fails when a byte in it changes', async (t) => {
  const { db, signer, log } = await build(230, 60);
  log.append([makeEvent()]); // after the last head: not exported
  const out = join(tempDir(), 'export');
  const m = exportLog(log, { out, since: log.entry(80)!.entry.time, until: log.entry(150)!.entry.time });
  t.equal(m.treeSize, 230);
  t.same([m.range.firstIndex, m.range.endIndex, m.range.count], [80, 150, 70], 'the range is marked by index');
  t.same(readdirSync(out).sort(), ['README.txt', 'entries.ndjson', 'gateway-public-key.json', 'manifest.json', 'tree-heads.json']);
  db.close();
  const ok = await verifyLog(out, signer.publicKey);
  t.match(ok, { ok: true, size: 230, heads: 4 }, 'verifies');
  const lines = readFileSync(join(out, 'entries.ndjson'), 'utf8').split('\n');
  lines[100] = lines[100].replace('TREAT', 'TREAX');
  writeFileSync(join(out, 'entries.ndjson'), lines.join('\n'));
  const bad = await verifyLog(out, signer.publicKey);
  t.equal(bad.ok, false);
  if (!bad.ok) t.same(bad.range, [60, 119]);
  const other = await makeSigner();
  t.equal((await verifyLog(out, other.publicKey)).ok, false, 'a key other than the pinned one fails');
  t.equal((await verifyLog(join(out, 'nope'), signer.publicKey)).ok, false);
});

t.test('verification up to a chosen head ignores later entries but still checks that head', async (t) => {
  const { db, signer, heads, log } = await build();
  unlock(db);
  db.prepare("UPDATE audit_entries SET entry = '{}' WHERE idx = 190").run();
  t.equal((await verifyLog(db, signer.publicKey, { to: heads[2] })).ok, true);
  t.equal((await verifyLog(db, signer.publicKey, { to: heads[3] })).ok, false);
  t.equal((await verifyLog(db, signer.publicKey, { to: 500 })).ok, false, 'a size beyond the log fails');
  t.ok(log.size() === 200);
  db.close();
});

t.test('a stored interior hash that was changed (so proofs would lie) fails verification', async (t) => {
  const { db, signer } = await build();
  unlock(db);
  db.prepare('UPDATE audit_nodes SET hash = ? WHERE level = 3 AND idx = 5').run(Buffer.alloc(32, 7));
  const r = await verifyLog(db, signer.publicKey);
  t.equal(r.ok, false);
  if (!r.ok) {
    t.match(r.reason, /level 3, index 5/);
    t.same(r.range, [40, 47]);
  }
  t.equal((await verifyLog(db, signer.publicKey, { checkStoredNodes: false })).ok, true, 'the entries themselves are intact');
  db.close();
});

t.test('a range-only export carries proofs: it verifies offline, names an altered entry, and notices a gap', async (t) => {
  const { db, signer, log } = await build(230, 60);
  const out = join(tempDir(), 'range');
  const m = exportLog(log, { out, since: log.entry(80)!.entry.time, until: log.entry(150)!.entry.time, scope: 'range' });
  t.same(m.entries, { from: 79, to: 151 }, 'the range plus one boundary entry each side');
  t.equal(m.scope, 'range');
  const kept = log.heads()[1];
  db.close();
  const lines = () => readFileSync(join(out, 'entries.ndjson'), 'utf8').trimEnd().split('\n');
  t.equal(lines().length, 72);
  const ok = await verifyLog(out, signer.publicKey, { from: kept });
  t.match(ok, { ok: true, size: 230, scope: 'range', entriesChecked: 72, heads: 4 });
  t.match(readFileSync(join(out, 'README.txt'), 'utf8'), /Range export/);

  const original = lines();
  const altered = [...original];
  altered[10] = altered[10].replace('TREAT', 'TREAX');
  writeFileSync(join(out, 'entries.ndjson'), altered.join('\n') + '\n');
  let r = await verifyLog(out, signer.publicKey);
  t.match(r, { ok: false, firstBadIndex: 89, entry: { index: 89, event: 'delivered' } });

  const gap = [...original];
  gap.splice(5, 1);
  const proofs = readFileSync(join(out, 'inclusion-proofs.ndjson'), 'utf8').trimEnd().split('\n');
  writeFileSync(join(out, 'entries.ndjson'), gap.join('\n') + '\n');
  writeFileSync(join(out, 'inclusion-proofs.ndjson'), proofs.filter((_, i) => i !== 5).join('\n') + '\n');
  r = await verifyLog(out, signer.publicKey);
  t.match(r, { ok: false, firstBadIndex: 84, reason: /missing/ });

  writeFileSync(join(out, 'entries.ndjson'), original.join('\n') + '\n');
  writeFileSync(join(out, 'inclusion-proofs.ndjson'), proofs.join('\n') + '\n');
  t.equal((await verifyLog(out, signer.publicKey)).ok, true, 'restored');
  const heads = JSON.parse(readFileSync(join(out, 'tree-heads.json'), 'utf8'));
  heads.consistency[0].path[0] = '00'.repeat(32);
  writeFileSync(join(out, 'tree-heads.json'), JSON.stringify(heads));
  r = await verifyLog(out, signer.publicKey);
  t.match(r, { ok: false, reason: /not consistent/ });
  t.equal((await verifyLog(out, (await makeSigner()).publicKey)).ok, false, 'another key fails');
});
