/**
 * Verify reads millions of entries, so it checks canonical form by a fast path and reads
 * exports in large chunks. These pin that the fast paths decide exactly as the plain
 * definitions do: canonical means `canonicalJson(JSON.parse(text)) === text`, and an export's
 * lines are its entries whatever the line endings.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, verifyLog, exportLog, parseEntry, canonicalJson } from '../../src/audit/index.js';
import { makeEvent, makeSigner, tempDb, tempDir, steppingClock } from './helpers.js';

/** The definition the fast path must agree with. */
function canonicalByDefinition(text: string): boolean {
  try {
    return canonicalJson(JSON.parse(text)) === text;
  } catch {
    return false;
  }
}

t.test('canonical form: the fast check agrees with the definition on every awkward case', async (t) => {
  const texts = [
    '{"a":1,"b":2}',
    '{"b":2,"a":1}', // keys out of order
    '{"a":1, "b":2}', // whitespace
    '{"10":1,"9":2}', // canonical: "10" sorts before "9" by code unit, although JavaScript enumerates 9 first
    '{"9":2,"10":1}',
    '{"a":-0}',
    '{"a":0}',
    '{"a":1e999}', // parses to Infinity: not a finite number
    '{"a":1.0}',
    '{"a":1.5e3}',
    '{"a":1500}',
    '{"a":"\\u00e9"}', // escaped where JSON.stringify would not escape
    '{"a":"é"}',
    '{"a":"\\u001f"}',
    '{"a":{"c":1,"b":2}}', // nested, unsorted
    '{"a":{"b":2,"c":1}}',
    '{"a":[{"b":1,"a":2}]}', // inside an array, unsorted
    '{"a":[{"a":2,"b":1}]}',
    '{"a":"x","a":"y"}', // a duplicate key
    '{"a":null,"b":true,"c":[]}',
    '{"a":"x\\r"}',
    '{"a":"x\r"}', // a raw control character inside a string is not JSON
    '[1,2]',
    '{}',
  ];
  for (const text of texts) {
    const expected = canonicalByDefinition(text);
    const got = parseEntry(text);
    // parseEntry also refuses non-objects, which the definition alone would accept.
    const isObject = text.startsWith('{');
    t.equal(got.ok, expected && isObject, `${JSON.stringify(text)}: ${expected && isObject ? 'canonical' : 'refused'}`);
  }
  // Real entries, as the log writes them.
  const { db } = tempDb();
  const log = AuditLog.open(db, { clock: steppingClock() });
  log.append(Array.from({ length: 20 }, () => makeEvent()));
  for (let i = 0; i < 20; i++) {
    const text = canonicalJson(log.entry(i)!.entry);
    t.equal(parseEntry(text).ok, true);
  }
  db.close();
});

async function exported(entries = 300, every = 100) {
  const { db } = tempDb();
  const signer = await makeSigner();
  const log = AuditLog.open(db, { signer, clock: steppingClock() });
  for (let i = 0; i < entries; i += every) {
    log.append(Array.from({ length: Math.min(every, entries - i) }, () => makeEvent()));
    log.signTreeHead();
  }
  const out = join(tempDir(), 'export');
  exportLog(log, { out });
  db.close();
  return { out, signer, file: join(out, 'entries.ndjson') };
}

t.test('an export with CRLF line endings, or without a final newline, still verifies', async (t) => {
  const { out, signer, file } = await exported();
  const lf = readFileSync(file, 'utf8');
  writeFileSync(file, lf.replace(/\n/g, '\r\n'));
  t.match(await verifyLog(out, signer.publicKey), { ok: true, size: 300 }, 'CRLF');
  writeFileSync(file, lf.replace(/\n$/, ''));
  t.match(await verifyLog(out, signer.publicKey), { ok: true, size: 300 }, 'no final newline');
});

t.test('in a large export, one altered byte, a raw CR inside a line, or a missing line is found', async (t) => {
  const { out, signer, file } = await exported(3000, 1000);
  const lines = readFileSync(file, 'utf8').split('\n');
  t.equal(lines.length, 3001, 'one line per entry and a final newline');

  const altered = [...lines];
  altered[2500] = altered[2500].replace('"v":1', '"v":2');
  writeFileSync(file, altered.join('\n'));
  const a = await verifyLog(out, signer.publicKey);
  t.equal(a.ok, false, 'an altered entry');
  if (!a.ok) t.same(a.range, [2000, 2999], 'named by the head that covers it');

  const cr = [...lines];
  cr[1234] = cr[1234].replace(',', ',\r');
  writeFileSync(file, cr.join('\n'));
  const b = await verifyLog(out, signer.publicKey);
  t.equal(b.ok, false, 'a raw CR inside an entry');
  if (!b.ok) t.equal(b.firstBadIndex, 1234);

  const gone = lines.filter((_, i) => i !== 777);
  writeFileSync(file, gone.join('\n'));
  t.equal((await verifyLog(out, signer.publicKey)).ok, false, 'a removed line');
  writeFileSync(file, lines.join('\n'));
  t.match(await verifyLog(out, signer.publicKey), { ok: true, size: 3000 }, 'and the original still verifies');
});

t.test('stored interior hashes are compared as the pass computes them, across chunks and levels', async (t) => {
  const { db } = tempDb();
  const signer = await makeSigner();
  const log = AuditLog.open(db, { signer, clock: steppingClock() });
  for (let i = 0; i < 10_000; i += 2_500) {
    log.append(Array.from({ length: 2_500 }, () => makeEvent()));
    log.signTreeHead();
  }
  t.match(await verifyLog(db, signer.publicKey), { ok: true, size: 10_000 });
  for (const tbl of ['audit_nodes']) db.exec(`DROP TRIGGER IF EXISTS ${tbl}_no_update; DROP TRIGGER IF EXISTS ${tbl}_no_delete;`);
  const [saved] = db.prepare('SELECT hash FROM audit_nodes WHERE level = 1 AND idx = 4500').pluck().all() as Buffer[];
  db.prepare('UPDATE audit_nodes SET hash = ? WHERE level = 1 AND idx = 4500').run(Buffer.alloc(32, 9));
  db.prepare('DELETE FROM audit_nodes WHERE level = 7 AND idx = 30').run();
  const r = await verifyLog(db, signer.publicKey);
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.reason, /level 1, index 4500/, 'the lowest bad node, in the second chunk of its level');
  db.prepare('UPDATE audit_nodes SET hash = ? WHERE level = 1 AND idx = 4500').run(saved);
  const r2 = await verifyLog(db, signer.publicKey);
  t.equal(r2.ok, false);
  if (!r2.ok) t.match(r2.reason, /level 7, index 30/, 'a missing node is found too');
  t.equal((await verifyLog(db, signer.publicKey, { checkStoredNodes: false })).ok, true, 'the entries themselves are intact');
  db.close();
});

t.test('with worker threads, verify finds the same faults as on one thread, database and export alike', async (t) => {
  const { db } = tempDb();
  const signer = await makeSigner();
  const log = AuditLog.open(db, { signer, clock: steppingClock() });
  for (let i = 0; i < 12_000; i += 4_000) {
    log.append(Array.from({ length: 4_000 }, () => makeEvent()));
    log.signTreeHead();
  }
  log.append([makeEvent()]); // an unsigned tail
  const out = join(tempDir(), 'export');
  exportLog(log, { out });
  const both = async (what: string) => {
    const one = await verifyLog(db, signer.publicKey, { workers: 0 });
    const two = await verifyLog(db, signer.publicKey, { workers: 2 });
    t.same(two, one, `${what}: the same answer with 2 workers as with none`);
    return two;
  };
  t.match(await both('untouched'), { ok: true, size: 12_001, unsignedTail: 1 });
  t.match(await verifyLog(out, signer.publicKey, { workers: 2 }), { ok: true, size: 12_000 }, 'the export, with workers');

  for (const tbl of ['audit_entries', 'audit_nodes']) db.exec(`DROP TRIGGER IF EXISTS ${tbl}_no_update; DROP TRIGGER IF EXISTS ${tbl}_no_delete;`);
  const entry = db.prepare('SELECT entry FROM audit_entries WHERE idx = 9001').pluck().get() as string;
  db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = 9001').run(entry.replace('"v":1', '"v":2'));
  t.match(await both('an altered entry'), { ok: false, firstBadIndex: 9001 });
  db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = 9001').run(entry);

  const leaf = db.prepare('SELECT hash FROM audit_nodes WHERE level = 0 AND idx = 7777').pluck().get() as Buffer;
  db.prepare('DELETE FROM audit_nodes WHERE level = 0 AND idx = 7777').run();
  t.match(await both('a missing leaf hash'), { ok: false, firstBadIndex: 7777 });
  db.prepare('INSERT INTO audit_nodes (level, idx, hash) VALUES (0, 7777, ?)').run(leaf);

  const row = db.prepare('SELECT * FROM audit_entries WHERE idx = 5000').get() as Record<string, unknown>;
  db.prepare('DELETE FROM audit_entries WHERE idx = 5000').run();
  t.match(await both('a deleted entry'), { ok: false, firstBadIndex: 5000, reason: /entry 5000 is missing/ });
  const cols = Object.keys(row);
  db.prepare(`INSERT INTO audit_entries (${cols.join(',')}) VALUES (${cols.map(() => '?').join(',')})`).run(...cols.map((c) => row[c]));
  t.match(await both('restored'), { ok: true, size: 12_001 });

  const lines = readFileSync(join(out, 'entries.ndjson'), 'utf8').split('\n');
  lines[11_000] = lines[11_000].replace('"v":1', '"v":2');
  writeFileSync(join(out, 'entries.ndjson'), lines.join('\n'));
  const offOne = await verifyLog(out, signer.publicKey, { workers: 0 });
  const offTwo = await verifyLog(out, signer.publicKey, { workers: 2 });
  t.equal(offTwo.ok, false, 'an altered export line, with workers');
  t.same(offTwo, offOne, 'the same answer as on one thread');
  db.close();
});
