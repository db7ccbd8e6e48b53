/**
 * A single altered byte anywhere is found: every byte of one stored entry, of its stored
 * leaf hash, of an interior node at each level, and of each field of a signed head; and
 * every byte of an exported entry line. Also: the verifier's canonical-form check (a fast
 * path, then the encoder) answers exactly as the canonical encoder does.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, verifyLog, exportLog, canonicalJson, parseEntry } from '../../src/audit/index.js';
import type { Db } from '../../src/store/index.js';
import { makeEvent, makeSigner, tempDb, tempDir, steppingClock } from './helpers.js';

function unlock(db: Db) {
  for (const tbl of ['audit_entries', 'audit_nodes', 'audit_tree_heads']) {
    db.exec(`DROP TRIGGER IF EXISTS ${tbl}_no_update; DROP TRIGGER IF EXISTS ${tbl}_no_delete;`);
  }
}

async function build(entries = 24, every = 8) {
  const { db } = tempDb();
  const signer = await makeSigner();
  const log = AuditLog.open(db, { signer, clock: steppingClock() });
  for (let i = 0; i < entries; i += every) {
    log.append(Array.from({ length: every }, () => makeEvent()));
    log.signTreeHead();
  }
  unlock(db);
  return { db, log, signer };
}

const bumpChar = (s: string, i: number) => s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ 1) + s.slice(i + 1);
const bumpByte = (b: Buffer, i: number) => {
  const c = Buffer.from(b);
  c[i] ^= 1;
  return c;
};

t.test('every byte of a stored entry', async (t) => {
  const { db, signer } = await build();
  const text = db.prepare('SELECT entry FROM audit_entries WHERE idx = 13').pluck().get() as string;
  const set = db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = 13');
  let missed = 0;
  for (let i = 0; i < text.length; i++) {
    set.run(bumpChar(text, i));
    if ((await verifyLog(db, signer.publicKey)).ok) missed++;
  }
  set.run(text);
  t.equal(missed, 0, `all ${text.length} positions found`);
  t.equal((await verifyLog(db, signer.publicKey)).ok, true, 'restored log verifies');
  db.close();
});

t.test('every byte of a stored leaf hash and of an interior node at each level', async (t) => {
  const { db, signer } = await build();
  const nodes = db.prepare('SELECT level, idx, hash FROM audit_nodes WHERE (level = 0 AND idx = 5) OR (level > 0 AND idx = 0)').all() as Array<{ level: number; idx: number; hash: Buffer }>;
  t.ok(nodes.length >= 4, 'leaf and interior levels present');
  const set = db.prepare('UPDATE audit_nodes SET hash = ? WHERE level = ? AND idx = ?');
  for (const n of nodes) {
    let missed = 0;
    for (let i = 0; i < n.hash.length; i++) {
      set.run(bumpByte(n.hash, i), n.level, n.idx);
      if ((await verifyLog(db, signer.publicKey)).ok) missed++;
    }
    set.run(n.hash, n.level, n.idx);
    t.equal(missed, 0, `level ${n.level} index ${n.idx}: all 32 bytes found`);
  }
  t.equal((await verifyLog(db, signer.publicKey)).ok, true);
  db.close();
});

t.test('every byte of a signed head (root, signature) and its size and time', async (t) => {
  const { db, signer } = await build();
  const id = db.prepare('SELECT id FROM audit_tree_heads ORDER BY tree_size LIMIT 1 OFFSET 1').pluck().get() as number;
  const row = db.prepare('SELECT root_hash, signature, tree_size, timestamp FROM audit_tree_heads WHERE id = ?').get(id) as Record<string, string | number>;
  // The root as stored (hex characters) and the signature as signed bytes (base64 has
  // spare bits in its last character that decode to the same 64 bytes).
  const sig = Buffer.from(row.signature as string, 'base64');
  const variants: Array<[string, string[]]> = [
    ['root_hash', [...(row.root_hash as string)].map((_, i) => bumpChar(row.root_hash as string, i))],
    ['signature', [...sig].map((_, i) => bumpByte(sig, i).toString('base64'))],
  ];
  for (const [col, values] of variants) {
    let missed = 0;
    for (const v of values) {
      db.prepare(`UPDATE audit_tree_heads SET ${col} = ? WHERE id = ?`).run(v, id);
      if ((await verifyLog(db, signer.publicKey)).ok) missed++;
    }
    db.prepare(`UPDATE audit_tree_heads SET ${col} = ? WHERE id = ?`).run(row[col], id);
    t.equal(missed, 0, `${col}: all ${values.length} positions found`);
  }
  for (const col of ['tree_size', 'timestamp']) {
    db.prepare(`UPDATE audit_tree_heads SET ${col} = ? WHERE id = ?`).run((row[col] as number) ^ 1, id);
    t.equal((await verifyLog(db, signer.publicKey)).ok, false, `${col} altered`);
    db.prepare(`UPDATE audit_tree_heads SET ${col} = ? WHERE id = ?`).run(row[col], id);
  }
  t.equal((await verifyLog(db, signer.publicKey)).ok, true);
  db.close();
});

t.test('every byte of an exported entry line, offline', async (t) => {
  const { db, log, signer } = await build();
  const out = join(tempDir(), 'export');
  exportLog(log, { out });
  const file = join(out, 'entries.ndjson');
  const original = readFileSync(file);
  const lines = original.toString('utf8').split('\n');
  const start = Buffer.byteLength(lines.slice(0, 9).join('\n') + '\n');
  const len = Buffer.byteLength(lines[9]);
  let missed = 0;
  for (let i = start; i < start + len; i++) {
    writeFileSync(file, bumpByte(original, i));
    if ((await verifyLog(out, signer.publicKey)).ok) missed++;
  }
  writeFileSync(file, original);
  t.equal(missed, 0, `all ${len} bytes of line 10 found`);
  t.equal((await verifyLog(out, signer.publicKey)).ok, true);
  db.close();
});

t.test('the canonical-form check agrees with the encoder', async (t) => {
  const cases = [
    '{"a":1,"b":[1,2,{"c":"x"}]}',
    '{"b":1,"a":2}',
    '{"a":-0}',
    '{"a":0}',
    '{"10":1,"9":2}',
    '{"9":2,"10":1}',
    '{"a":1.0}',
    '{"a":1e21}',
    '{"a":"\\u00e9"}',
    '{"a":"é"}',
    '{"a":"\\u2028"}',
    '{ "a":1}',
    '{"a":1,"a":1}',
    '{"a":{"z":1,"y":2}}',
    '{"__proto__":1,"a":2}',
    '{"a":1e400}',
    '{"":1,"a":[]}',
  ];
  for (const text of cases) {
    const parsed = JSON.parse(text);
    let expected: boolean;
    try {
      expected = canonicalJson(parsed) === text;
    } catch {
      expected = false;
    }
    t.equal(parseEntry(text).ok, expected, text);
  }
});
