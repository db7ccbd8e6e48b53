import t from 'tap';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDatabase } from '../../src/store/index.js';
import {
  openAtRestCipher,
  dayScope,
  patientScope,
  PayloadTamperedError,
  DataKeyGoneError,
  KekError,
  AT_REST_OVERHEAD,
  bindRow,
  queueItemAad,
  consentRowAad,
  rebindLegacyRows,
  getSodium,
  type LegacyRowSpec,
  type KekSource,
} from '../../src/crypto/index.js';

/** The row every ciphertext of these tests belongs to (row binding is tested on its own below). */
const ROW = bindRow('test', 'row-1');

const PHI = [
  'Ayesha Qureshi',
  '35202-1234567-1',
  '+92 300 1234567',
  'HIV-1 RNA detected',
  'House 12, Street 4, F-7/2 Islamabad',
];
const fixedKek = (): KekSource => ({ from: 'key', key: new Uint8Array(32).fill(7) });

function openDb(t: { testdir: () => string; teardown: (fn: () => void) => void }) {
  const dir = t.testdir();
  const file = join(dir, 'darwaza.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE IF NOT EXISTS test_payloads (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, body BLOB NOT NULL) STRICT');
  t.teardown(() => db.open && db.close());
  return { dir, file, db };
}

const fileBytes = (file: string) => (existsSync(file) ? readFileSync(file) : Buffer.alloc(0));
const onDisk = (file: string) => Buffer.concat([fileBytes(file), fileBytes(`${file}-wal`)]);

t.test('PHI written through the cipher into a real SQLite file is in neither the .db nor the -wal bytes', async (t) => {
  const { file, db } = openDb(t);
  const cipher = await openAtRestCipher(db, { kek: fixedKek() });
  const insert = db.prepare('INSERT INTO test_payloads (scope, body) VALUES (?, ?)');
  const rows: Array<[string, string]> = [];
  for (let i = 0; i < 200; i++) {
    const text = JSON.stringify({ n: i, name: PHI[0], cnic: PHI[1], phone: PHI[2], result: PHI[3], address: PHI[4] });
    const scope = i % 2 ? dayScope('2026-11-26T10:00:00Z') : patientScope('tok' + (i % 5));
    insert.run(scope, Buffer.from(cipher.encrypt(Buffer.from(text), scope, ROW)));
    rows.push([scope, text]);
  }
  const walBefore = fileBytes(`${file}-wal`);
  t.ok(walBefore.length > 0, 'the WAL holds recent commits (we look at it too)');
  const bytes = onDisk(file);
  for (const s of PHI) {
    t.equal(bytes.indexOf(Buffer.from(s)), -1, `"${s.slice(0, 6)}…" not on disk`);
  }
  // And everything reads back.
  const read = db.prepare('SELECT scope, body FROM test_payloads ORDER BY id').all() as Array<{ scope: string; body: Buffer }>;
  read.forEach((r, i) => {
    if (Buffer.from(cipher.decrypt(new Uint8Array(r.body), r.scope, ROW)).toString() !== rows[i][1]) t.fail(`row ${i} differs`);
  });
  t.pass('all 200 rows decrypt to what was written');
  t.same(cipher.scopes('d:').map((s) => s.scope), ['d:2026-11-26']);
});

t.test('a tampered ciphertext throws PayloadTamperedError, whichever byte changed', async (t) => {
  const { db } = openDb(t);
  const cipher = await openAtRestCipher(db, { kek: fixedKek() });
  const ct = cipher.encrypt(Buffer.from('secret clinical note'), 'd:2026-11-26', ROW);
  t.equal(ct.length, 'secret clinical note'.length + AT_REST_OVERHEAD);
  t.equal(ct[0], 2, 'format version byte first (v2: bound to its row)');
  for (const at of [20, 30, 45, ct.length - 1]) {
    const bad = new Uint8Array(ct);
    bad[at] ^= 0x80;
    t.throws(() => cipher.decrypt(bad, 'd:2026-11-26', ROW), PayloadTamperedError, `byte ${at}`);
  }
  const v = new Uint8Array(ct);
  v[0] = 3;
  t.throws(() => cipher.decrypt(v, 'd:2026-11-26', ROW), { name: 'PayloadTamperedError', message: /format version 3/ });
  t.throws(() => cipher.decrypt(ct.subarray(0, 30), 'd:2026-11-26', ROW), PayloadTamperedError, 'truncated');
  cipher.encrypt(Buffer.from('x'), 'd:2026-11-27', ROW);
  t.throws(() => cipher.decrypt(ct, 'd:2026-11-27', ROW), { name: 'PayloadTamperedError', message: /scope/ }, 'moved to another scope');
  t.equal(Buffer.from(cipher.decrypt(ct, 'd:2026-11-26', ROW)).toString(), 'secret clinical note', 'the original still decrypts');
});

t.test('shred makes a scope unrecoverable forever and removes the wrapped key bytes from the file and the WAL', async (t) => {
  const { file, db } = openDb(t);
  const cipher = await openAtRestCipher(db, { kek: fixedKek() });
  const scope = patientScope('patient-token-abc');
  const ct = cipher.encrypt(Buffer.from(PHI[0]), scope, ROW);
  const other = cipher.encrypt(Buffer.from('kept'), 'd:2026-11-26', ROW);
  const wrapped = (db.prepare('SELECT wrapped FROM crypto_data_keys WHERE scope = ?').get(scope) as { wrapped: Buffer }).wrapped;
  t.ok(onDisk(file).indexOf(wrapped) >= 0, 'the wrapped key is on disk before shredding (the grep works)');
  const result = cipher.shredScope(scope);
  t.same(result, { existed: true, walTruncated: true });
  t.equal(fileBytes(`${file}-wal`).length, 0, 'WAL truncated to zero bytes');
  t.equal(onDisk(file).indexOf(wrapped), -1, 'wrapped key bytes gone from .db and -wal');
  t.equal(onDisk(file).indexOf(wrapped.subarray(24, 56)), -1, 'not even a 32-byte piece of it');
  t.throws(() => cipher.decrypt(ct, scope, ROW), DataKeyGoneError);
  // A new key for the same scope (new data for that patient) does not revive the old ciphertext.
  cipher.encrypt(Buffer.from('new data'), scope, ROW);
  t.throws(() => cipher.decrypt(ct, scope, ROW), DataKeyGoneError, 'still gone after the scope gets a new key');
  db.close();
  const db2 = openDatabase(file);
  t.teardown(() => db2.close());
  const again = await openAtRestCipher(db2, { kek: fixedKek() });
  t.throws(() => again.decrypt(ct, scope, ROW), DataKeyGoneError, 'and after a restart');
  t.equal(Buffer.from(again.decrypt(other, 'd:2026-11-26', ROW)).toString(), 'kept', 'other scopes are untouched');
  t.same(again.shredScope('never-existed'), { existed: false, walTruncated: true });
});

t.test('a cipher in another process (connection) that shreds is honoured here at once', async (t) => {
  const { file, db } = openDb(t);
  const a = await openAtRestCipher(db, { kek: fixedKek() });
  const ct = a.encrypt(Buffer.from('x'), 'd:2026-11-20', ROW);
  const db2 = openDatabase(file);
  const b = await openAtRestCipher(db2, { kek: fixedKek() });
  b.shred('d:2026-11-20');
  db2.close();
  t.throws(() => a.decrypt(ct, 'd:2026-11-20', ROW), DataKeyGoneError, 'the first connection no longer uses its cached key');
});

t.test('the KEK comes from a 0600 key file, and looser permissions are refused with the fix', async (t) => {
  const { dir, db } = openDb(t);
  const kekFile = join(dir, 'kek.key');
  writeFileSync(kekFile, randomBytes(32).toString('base64') + '\n', { mode: 0o644 });
  chmodSync(kekFile, 0o644);
  await t.rejects(openAtRestCipher(db, { kek: { from: 'file', path: kekFile } }), { name: 'KekError', message: /chmod 600/ });
  chmodSync(kekFile, 0o600);
  const c = await openAtRestCipher(db, { kek: { from: 'file', path: kekFile } });
  const ct = c.encrypt(Buffer.from('hello'), 'consent', ROW);
  const c2 = await openAtRestCipher(db, { kek: { from: 'file', path: kekFile } });
  t.equal(Buffer.from(c2.decrypt(ct, 'consent', ROW)).toString(), 'hello');
});

t.test('the KEK from DARWAZA_KEK must be base64 of 32 bytes; a different KEK is refused at open', async (t) => {
  const { db } = openDb(t);
  const key = randomBytes(32).toString('base64');
  await t.rejects(openAtRestCipher(db, { kek: { from: 'env', env: {} } }), { message: /DARWAZA_KEK is not set/ });
  await t.rejects(openAtRestCipher(db, { kek: { from: 'env', env: { DARWAZA_KEK: 'c2hvcnQ=' } } }), { message: /32 bytes/ });
  const c = await openAtRestCipher(db, { kek: { from: 'env', env: { DARWAZA_KEK: key } } });
  c.encrypt(Buffer.from('x'), 'consent', ROW);
  await t.rejects(
    openAtRestCipher(db, { kek: { from: 'env', env: { DARWAZA_KEK: randomBytes(32).toString('base64') } } }),
    KekError,
    'a wrong KEK is caught by the check value before any decrypt',
  );
});

t.test('a passphrase KEK is derived with Argon2id and a salt kept in the database', async (t) => {
  const { file, db } = openDb(t);
  const src = (passphrase: string): KekSource => ({ from: 'passphrase', passphrase, opsLimit: 1, memLimitBytes: 8192 * 1024 });
  await t.rejects(openAtRestCipher(db, { kek: src('short') }), { message: /12 characters/ });
  const c = await openAtRestCipher(db, { kek: src('correct horse battery staple') });
  const ct = c.encrypt(Buffer.from('x'), 'consent', ROW);
  const row = db.prepare('SELECT kdf, length(salt) AS n FROM crypto_kek').get();
  t.same(row, { kdf: 'argon2id13', n: 16 });
  db.close();
  const db2 = openDatabase(file);
  t.teardown(() => db2.close());
  await t.rejects(openAtRestCipher(db2, { kek: src('wrong horse battery staple') }), KekError);
  await t.rejects(openAtRestCipher(db2, { kek: fixedKek() }), { message: /passphrase/ });
  const c2 = await openAtRestCipher(db2, { kek: src('correct horse battery staple') });
  t.equal(Buffer.from(c2.decrypt(ct, 'consent', ROW)).toString(), 'x');
});

t.test('rotating the KEK re-wraps every data key; old ciphertexts still decrypt under the new KEK only', async (t) => {
  const { db } = openDb(t);
  const c = await openAtRestCipher(db, { kek: fixedKek() });
  const cts = ['d:2026-11-25', 'd:2026-11-26', 'consent'].map((s) => [s, c.encrypt(Buffer.from(s), s, ROW)] as const);
  const next: KekSource = { from: 'key', key: new Uint8Array(32).fill(9) };
  await c.rotateKek(next);
  for (const [s, ct] of cts) t.equal(Buffer.from(c.decrypt(ct, s, ROW)).toString(), s);
  await t.rejects(openAtRestCipher(db, { kek: fixedKek() }), KekError, 'the old KEK no longer opens the database');
  const c2 = await openAtRestCipher(db, { kek: next });
  for (const [s, ct] of cts) t.equal(Buffer.from(c2.decrypt(ct, s, ROW)).toString(), s);
});

t.test('bad arguments are refused with named errors', async (t) => {
  const { db } = openDb(t);
  const c = await openAtRestCipher(db, { kek: fixedKek() });
  t.throws(() => c.encrypt(Buffer.from('x'), '', ROW), { message: /scope/ });
  t.throws(() => c.encrypt('x' as unknown as Uint8Array, 'consent', ROW), { message: /plain/ });
  c.close();
  t.throws(() => c.encrypt(Buffer.from('x'), 'consent', ROW), { message: /closed/ });
});


t.test('a shredded key reads as a kind of PayloadTamperedError with its own code, so queue code written to the contract handles it', async (t) => {
  const { db } = openDb(t);
  const c = await openAtRestCipher(db, { kek: fixedKek() });
  const ct = c.encrypt(Buffer.from('x'), 'p:tok', ROW);
  c.shred('p:tok');
  try {
    c.decrypt(ct, 'p:tok', ROW);
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof PayloadTamperedError && err instanceof DataKeyGoneError);
    t.equal((err as DataKeyGoneError).code, 'DATA_KEY_GONE');
    t.notMatch((err as Error).message, /p:tok/, 'the scope (a patient token) is not in the message');
  }
});

t.test('a key made inside a rolled-back transaction is never used; data written afterwards reads back', async (t) => {
  const { db } = openDb(t);
  const c = await openAtRestCipher(db, { kek: fixedKek() });
  t.throws(() =>
    db.transaction(() => {
      c.encrypt(Buffer.from('lost'), 'd:2026-11-28', ROW);
      throw new Error('roll back');
    })(),
  );
  t.same(c.scopes('d:'), [], 'the key row rolled back with the transaction');
  const ct = c.encrypt(Buffer.from('kept'), 'd:2026-11-28', ROW);
  t.equal(Buffer.from(c.decrypt(ct, 'd:2026-11-28', ROW)).toString(), 'kept');
  db.transaction(() => {
    t.equal(c.shredScope('d:2026-11-28').walTruncated, false, 'no WAL truncation inside a transaction (reported)');
  })();
  t.equal(c.shredScope('d:2026-11-28').walTruncated, true, 'and done when called outside');
});

t.test('an altered wrapped-key row makes decrypt throw PayloadTamperedError naming the key row', async (t) => {
  const { file, db } = openDb(t);
  const c = await openAtRestCipher(db, { kek: fixedKek() });
  const ct = c.encrypt(Buffer.from('x'), 'd:2026-11-29', ROW);
  db.prepare("UPDATE crypto_data_keys SET wrapped = zeroblob(72) WHERE scope = 'd:2026-11-29'").run();
  const fresh = openDatabase(file); // a new process: nothing cached
  t.teardown(() => fresh.close());
  const c2 = await openAtRestCipher(fresh, { kek: fixedKek() });
  t.throws(() => c2.decrypt(ct, 'd:2026-11-29', ROW), { name: 'PayloadTamperedError', message: /stored row was altered/ });
});

t.test('finding: queue ciphertexts were bound to a day, not to their row — now a ciphertext decrypts only for the row it was written for', async (t) => {
  const { db } = openDb(t);
  const cipher = await openAtRestCipher(db, { kek: fixedKek() });
  const scope = 'd:2026-11-26';
  const a = cipher.encrypt(Buffer.from('payload of m1'), scope, queueItemAad('m1', 'nih'));
  t.equal(Buffer.from(cipher.decrypt(a, scope, queueItemAad('m1', 'nih'))).toString(), 'payload of m1');
  t.throws(() => cipher.decrypt(a, scope, queueItemAad('m2', 'nih')), { name: 'PayloadTamperedError', message: /moved from another row/ }, 'another message');
  t.throws(() => cipher.decrypt(a, scope, queueItemAad('m1', 'other')), PayloadTamperedError, 'another destination');
  const c = cipher.encrypt(Buffer.from('{}'), 'consent', consentRowAad('c1', 2, 'active'));
  t.throws(() => cipher.decrypt(c, 'consent', consentRowAad('c1', 3, 'active')), PayloadTamperedError, 'another version');
  t.throws(() => cipher.decrypt(c, 'consent', consentRowAad('c1', 2, 'inactive')), PayloadTamperedError, 'another status');
  t.throws(() => cipher.decrypt(c, 'consent', consentRowAad('c2', 2, 'active')), PayloadTamperedError, 'another id');
  t.not(Buffer.from(bindRow('x', 'ab', 'c')).toString('hex'), Buffer.from(bindRow('x', 'a', 'bc')).toString('hex'), 'parts are length-prefixed');
  t.throws(() => cipher.encrypt(Buffer.from('x'), scope, undefined as unknown as Uint8Array), /aad/, 'a row binding is required');
});

t.test('v1 ciphertexts (no row binding) are refused by decrypt, and re-encrypted once, in one migration, bound to their rows', async (t) => {
  const { db } = openDb(t);
  const kek = new Uint8Array(32).fill(7);
  const cipher = await openAtRestCipher(db, { kek: fixedKek() });
  const scope = 'd:2026-11-26';
  // A v1 ciphertext as the previous version wrote it: same data key, associated data = prefix ‖ 1 ‖ keyId ‖ scope.
  cipher.encrypt(Buffer.from('warm'), scope, ROW);
  const row = db.prepare('SELECT key_id, wrapped FROM crypto_data_keys WHERE scope = ?').get(scope) as { key_id: Buffer; wrapped: Buffer };
  const s = await getSodium();
  const key = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
    null, row.wrapped.subarray(24), Buffer.concat([Buffer.from('darwaza-data-key-v1\0'), row.key_id, Buffer.from(scope)]), row.wrapped.subarray(0, 24), kek,
  );
  const v1 = (plain: string) => {
    const nonce = randomBytes(24);
    const ad = Buffer.concat([Buffer.from('darwaza-at-rest-v1\0'), Buffer.of(1), row.key_id, Buffer.from(scope)]);
    return Buffer.concat([Buffer.of(1), row.key_id, nonce, s.crypto_aead_xchacha20poly1305_ietf_encrypt(Buffer.from(plain), ad, null, nonce, key)]);
  };
  db.exec('CREATE TABLE legacy (id INTEGER PRIMARY KEY, m TEXT NOT NULL, body BLOB NOT NULL) STRICT');
  const put = db.prepare('INSERT INTO legacy (m, body) VALUES (?, ?)');
  for (let i = 0; i < 1203; i++) put.run(`m${i}`, v1(`body ${i}`));
  const tampered = v1('tampered');
  tampered[tampered.length - 1] ^= 1;
  put.run('bad', tampered);
  t.throws(() => cipher.decrypt(v1('x'), scope, ROW), { name: 'PayloadTamperedError', message: /without row binding/ }, 'decrypt never reads v1');
  type Legacy = { id: number; m: string; body: Buffer };
  const spec: LegacyRowSpec<Legacy> = {
    module: 'test-legacy',
    select: 'SELECT id, m, body FROM legacy WHERE id > ? ORDER BY id LIMIT ?',
    cursor: (r) => r.id,
    blob: (r) => r.body,
    scope: () => scope,
    aad: (r) => queueItemAad(r.m, 'nih'),
    update: (tx, r, b) => void tx.prepare('UPDATE legacy SET body = ? WHERE id = ?').run(Buffer.from(b), r.id),
  };
  t.same(rebindLegacyRows(db, cipher, spec), { rebound: 1203, left: 1 }, 'every page re-encrypted; the altered one left for its reader to refuse');
  const got = db.prepare('SELECT m, body FROM legacy WHERE m IN (?, ?)').all('m0', 'm1202') as { m: string; body: Buffer }[];
  for (const r of got) t.equal(Buffer.from(cipher.decrypt(new Uint8Array(r.body), scope, queueItemAad(r.m, 'nih'))).toString(), `body ${r.m.slice(1)}`);
  // Planted after the migration ran: never laundered into v2.
  put.run('late', v1('planted'));
  t.same(rebindLegacyRows(db, cipher, spec), { rebound: 0, left: 0 }, 'the migration runs once');
  const late = db.prepare("SELECT body FROM legacy WHERE m = 'late'").get() as { body: Buffer };
  t.throws(() => cipher.decrypt(new Uint8Array(late.body), scope, queueItemAad('late', 'nih')), PayloadTamperedError);
});
