import t from 'tap';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { command } from '../../src/cli/commands/audit.js';
import { captureIo } from '../helpers/cli.js';
import { AuditLog, plainReason, REASON_MAX, verifyInclusion } from '../../src/audit/index.js';
import { createTokenizer } from '../../src/crypto/index.js';
import { getSodium } from '../../src/crypto/sodium.js';
import { openDatabase } from '../../src/store/index.js';
import { makeEvent, makeSigner, tempDir, steppingClock, PHI } from './helpers.js';

const io = (cwd: string) => captureIo({ cwd });

/** A gateway home (data/darwaza.db, certs/token.key) with a log built from PHI-bearing inputs. */
async function gatewayHome() {
  await getSodium();
  const home = tempDir();
  mkdirSync(join(home, 'certs'));
  const tokenKey = randomBytes(32);
  writeFileSync(join(home, 'certs', 'token.key'), tokenKey.toString('base64') + '\n');
  const tokenize = createTokenizer(tokenKey);
  const db = openDatabase(join(home, 'data', 'darwaza.db'));
  const signer = await makeSigner();
  const log = AuditLog.open(db, { signer, clock: steppingClock() });
  const patients = [PHI.cnic, 'cnic|42101-7654321-3', 'Patient/p-99'];
  for (let i = 0; i < 60; i++) {
    const who = patients[i % 3];
    log.append([
      makeEvent({
        event: i % 2 ? 'delivered' : 'queued',
        time: new Date(Date.parse('2026-03-02T00:00:00Z') + i * 60_000).toISOString(),
        messageId: `m-${i}`,
        destination: i % 4 === 0 ? 'research-eu' : 'nhsp-pk',
        patientToken: tokenize(who),
        // What a careless caller might pass: PHI in reason and in unknown fields.
        reason: i === 7 ? `denied: CNIC ${PHI.cnic} phone ${PHI.phone} ${PHI.mrn} ${PHI.email} born ${PHI.dob} Patient/123` : 'consent permits treatment',
        ...({ patientName: PHI.name, note: PHI.diagnosis } as object),
      }),
    ]);
    if (i % 20 === 19) log.signTreeHead();
  }
  return { home, db, log, signer, tokenize };
}

function scanForPhi(t: { notOk: (v: unknown, msg: string) => unknown }, label: string, text: string) {
  for (const [kind, value] of Object.entries(PHI)) {
    t.notOk(text.includes(value), `${label} holds no ${kind}`);
  }
  t.notOk(/\d{5}-\d{7}-\d/.test(text), `${label} holds nothing shaped like a CNIC`);
}

t.test('no PHI from the inputs reaches the audit tables, any export, or any command output', async (t) => {
  const { home, db, signer } = await gatewayHome();
  const tables = ['audit_entries', 'audit_tree_heads', 'audit_keys'].map((tb) => JSON.stringify(db.prepare(`SELECT * FROM ${tb}`).all())).join('\n');
  scanForPhi(t, 'the audit tables', tables);
  const reason7 = JSON.parse(db.prepare('SELECT entry FROM audit_entries WHERE idx = 7').pluck().get() as string).reason;
  t.equal(reason7, 'denied: CNIC [redacted] phone +92 [redacted] born [redacted]', 'identifiers, e-mail, dates and references are redacted from reason');
  db.close();
  keyFile(home, signer.publicKey);
  const outputs: string[] = [];
  for (const args of [
    ['verify', '--data-dir', join(home, 'data'), '--public-key', 'key.json'],
    ['export', '--data-dir', join(home, 'data'), '--out', 'exp'],
    ['export', '--data-dir', join(home, 'data'), '--out', 'fhir', '--format', 'fhir'],
    ['export', '--data-dir', join(home, 'data'), '--out', 'rng', '--range-only', '--since', '2026-03-02T00:05:00Z', '--until', '2026-03-02T00:15:00Z'],
    ['prove', '5', '--data-dir', join(home, 'data')],
    ['disclosures', '--patient', PHI.cnic, '--data-dir', join(home, 'data')],
    ['disclosures', '--patient', PHI.cnic, '--json', '--data-dir', join(home, 'data')],
    ['breach-report', '--since', '2026-03-02', '--until', '2026-03-03', '--data-dir', join(home, 'data'), '--out', 'breach.json'],
  ]) {
    const c = io(home);
    t.equal(await command.run(args, c.io), 0, args.join(' '));
    outputs.push(c.text());
  }
  const files = [
    ...['exp', 'rng', 'fhir'].flatMap((d) => readdirSync(join(home, d)).map((f) => join(home, d, f))),
    join(home, 'breach.json'),
  ];
  t.ok(files.length >= 12, 'every exported file is scanned');
  const everything = [...outputs, ...files.map((f) => readFileSync(f, 'utf8'))].join('\n');
  scanForPhi(t, 'the exports and command outputs', everything);
});

t.test('reason text is reduced to plain words and capped', async (t) => {
  t.equal(plainReason('  no   consent\tfor destination  '), 'no consent for destination');
  t.equal(plainReason(`CNIC ${PHI.cnic} and ${PHI.phone}`), 'CNIC [redacted] and +92 [redacted]');
  t.equal(plainReason(`mail ${PHI.email}; see Patient/abc`), 'mail [redacted] see [redacted]');
  t.equal(plainReason(`<script>alert(1)</script>`), 'scriptalert(1)script');
  t.equal(plainReason(`denied for ${PHI.name}`), `denied for ${PHI.name}`, 'a name cannot be told from words by pattern: callers pass rule texts only (documented weakness)');
  const long = plainReason('word '.repeat(200));
  t.ok(long.length <= REASON_MAX, 'capped');
  t.ok(long.endsWith('…'));
});

function keyFile(home: string, publicKey: Uint8Array) {
  writeFileSync(join(home, 'key.json'), JSON.stringify({ keys: [{ keyId: 'audit-key-1', publicKey: Buffer.from(publicKey).toString('base64') }] }));
}

t.test('audit verify prints a plain verdict and exits 0, or 1 naming the first bad entry', async (t) => {
  const { home, db, signer } = await gatewayHome();
  keyFile(home, signer.publicKey);
  let c = io(home);
  t.equal(await command.run(['verify', '--public-key', 'key.json'], c.io), 0);
  t.match(c.out[0], /^VERIFIED: 60 entries, 3 signed tree heads/);
  c = io(home);
  t.equal(await command.run(['verify'], c.io), 0, 'without a pinned key');
  t.match(c.err.join('\n'), /not pinned.*fingerprint/);
  db.exec('DROP TRIGGER audit_entries_no_update');
  const text = db.prepare('SELECT entry FROM audit_entries WHERE idx = 33').pluck().get() as string;
  db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = 33').run(text.replace('"purpose":"TREAT"', '"purpose":"TREAU"'));
  c = io(home);
  t.equal(await command.run(['verify', '--public-key', 'key.json'], c.io), 1);
  t.match(c.out.join('\n'), /FAILED: entry 33[^]*First bad entry: index 33, event delivered, time 2026-03-02T00:33:00.000Z/);
  c = io(home);
  t.equal(await command.run(['verify', '--public-key', 'key.json', '--to', '20'], c.io), 0, 'up to size 20 is still good');
  db.close();
});

t.test('audit export then verify --offline works from the folder alone; a kept head pins history', async (t) => {
  const { home, db, log, signer } = await gatewayHome();
  keyFile(home, signer.publicKey);
  writeFileSync(join(home, 'kept-head.json'), JSON.stringify(log.heads()[1]));
  db.close();
  let c = io(home);
  t.equal(await command.run(['export', '--out', 'exp', '--since', '2026-03-02T00:10:00Z', '--until', '2026-03-02T00:20:00Z'], c.io), 0);
  t.match(c.out[0], /Exported 60 entries \(range: indices 10–19, 10 entries\)/);
  const manifest = JSON.parse(readFileSync(join(home, 'exp', 'manifest.json'), 'utf8'));
  t.same(manifest.range, { since: '2026-03-02T00:10:00.000Z', until: '2026-03-02T00:20:00.000Z', firstIndex: 10, endIndex: 20, count: 10 });
  t.match(readFileSync(join(home, 'exp', 'README.txt'), 'utf8'), /SHA-256\( 0x00 \|\| bytes of line i \)/);
  c = io(tempDir());
  t.equal(await command.run(['verify', '--offline', join(home, 'exp'), '--public-key', join(home, 'key.json'), '--from', join(home, 'kept-head.json')], c.io), 0);
  t.match(c.out[0], /VERIFIED: 60 entries/);
  c = io(tempDir());
  t.equal(await command.run(['verify', '--offline', join(home, 'exp')], c.io), 0, 'with the folder key, warned');
  t.match(c.err.join(''), /not pinned/);
  c = io(home);
  t.equal(await command.run(['export', '--out', 'rng', '--range-only', '--since', '2026-03-02T00:10:00Z', '--until', '2026-03-02T00:20:00Z'], c.io), 0);
  t.match(c.out[0], /Exported entries 9–20 .* signed head at size 60/);
  c = io(tempDir());
  t.equal(await command.run(['verify', '--offline', join(home, 'rng'), '--public-key', join(home, 'key.json')], c.io), 0);
  t.match(c.out[0], /VERIFIED: 12 entries are included in the signed head at size 60; 3 signed tree heads/);
  const forged = await makeSigner();
  writeFileSync(join(home, 'other.json'), JSON.stringify({ publicKey: Buffer.from(forged.publicKey).toString('base64') }));
  c = io(home);
  t.equal(await command.run(['verify', '--offline', 'exp', '--public-key', 'other.json'], c.io), 1);
  t.match(c.out[0], /not signed by the trusted key/);
  c = io(home);
  t.equal(await command.run(['export', '--out', 'f', '--format', 'fhir', '--since', '2026-03-02T00:10:00Z', '--until', '2026-03-02T00:12:00Z'], c.io), 0);
  const events = readFileSync(join(home, 'f', 'AuditEvent.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.equal(events.length, 2);
  t.match(events[1], { resourceType: 'AuditEvent', type: { code: '110106' }, recorded: '2026-03-02T00:11:00.000Z', entity: [{}, { role: { code: '1' } }] });
});

t.test('audit prove gives an inclusion proof that verifies against the signed head', async (t) => {
  const { home, db } = await gatewayHome();
  db.close();
  let c = io(home);
  t.equal(await command.run(['prove', '17'], c.io), 0);
  const p = JSON.parse(c.out.join('\n'));
  t.equal(p.treeSize, 60);
  t.ok(verifyInclusion(Buffer.from(p.leafHash, 'hex'), p.leafIndex, p.treeSize, p.auditPath.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(p.signedHead.rootHash, 'hex')));
  c = io(home);
  t.equal(await command.run(['prove', 'm-18'], c.io), 0);
  t.equal(JSON.parse(c.out.join('\n'))[0].leafIndex, 18);
  c = io(home);
  t.equal(await command.run(['prove', 'nope'], c.io), 1);
  t.equal(await command.run(['prove', '600'], io(home).io), 1);
});

t.test('audit disclosures lists one patient by token; breach-report summarises a window', async (t) => {
  const { home, db, tokenize } = await gatewayHome();
  db.close();
  let c = io(home);
  t.equal(await command.run(['disclosures', '--patient', PHI.cnic, '--json'], c.io), 0);
  const d = JSON.parse(c.out.join('\n'));
  t.equal(d.patientToken, tokenize(PHI.cnic));
  t.equal(d.entries.length, 20);
  t.equal(d.entries.filter((e: { disclosed: boolean }) => e.disclosed).length, 10);
  t.match(d.entries[1], { event: 'delivered', destination: 'nhsp-pk', consentId: 'Consent/c-17', consentVersion: '3', purpose: 'TREAT' });
  c = io(home);
  t.equal(await command.run(['disclosures', '--patient', PHI.cnic], c.io), 0);
  t.match(c.out[0], /20 audited events, 10 disclosures/);
  c = io(home);
  t.equal(await command.run(['breach-report', '--since', '2026-03-02T00:00:00Z', '--until', '2026-03-02T00:30:00Z', '--destination', 'nhsp-pk', '--json'], c.io), 0);
  const r = JSON.parse(c.out.join('\n'));
  t.equal(r.entries, 15);
  t.equal(r.patients.length, 3);
  t.same(r.dataClasses, ['Observation', 'mental-health']);
  t.same(r.destinations, [{ name: 'nhsp-pk', entries: 15, patients: 3 }]);
  c = io(home);
  t.equal(await command.run(['breach-report', '--since', '2026-03-02', '--until', '2026-03-03'], c.io), 0);
  t.match(c.out.join('\n'), /Patients affected: 3[^]*nhsp-pk: 30 entries, 3 patients/);
});

t.test('usage mistakes and missing files are clear errors', async (t) => {
  const home = tempDir();
  await t.rejects(command.run([], io(home).io), /subcommand is required/);
  await t.rejects(command.run(['frob'], io(home).io), /unknown subcommand/);
  await t.rejects(command.run(['breach-report', '--since', 'x', '--until', 'y'], io(home).io), /--since/);
  await t.rejects(command.run(['export'], io(home).io), /--out/);
  const c = io(home);
  t.equal(await command.run(['verify'], c.io), 3);
  t.match(c.err[0], /no gateway database/);
  t.equal(await command.run(['disclosures', '--patient', 'x'], io(home).io), 3, 'no token key file');
});

t.test('a regulator who kept a proof from before catches a truncated log with verify --from', async (t) => {
  const { home, db, signer } = await gatewayHome();
  keyFile(home, signer.publicKey);
  let c = io(home);
  t.equal(await command.run(['prove', '50'], c.io), 0);
  writeFileSync(join(home, 'kept-proof.json'), c.out.join('\n')); // holds the signed head at size 60
  for (const tbl of ['audit_entries', 'audit_nodes', 'audit_tree_heads']) db.exec(`DROP TRIGGER ${tbl}_no_delete`);
  db.exec('DELETE FROM audit_entries WHERE idx >= 40; DELETE FROM audit_nodes WHERE (idx + 1) * (1 << level) > 40; DELETE FROM audit_tree_heads WHERE tree_size > 40;');
  c = io(home);
  t.equal(await command.run(['verify', '--public-key', 'key.json'], c.io), 0, 'a clean truncation alone is invisible');
  c = io(home);
  t.equal(await command.run(['verify', '--public-key', 'key.json', '--from', 'kept-proof.json'], c.io), 1);
  t.match(c.out[0], /FAILED: a signed head covers 60 entries but only 40 are present: the log was truncated/);
  c = io(home);
  t.equal(await command.run(['verify', '--public-key', 'key.json', '--from', 'nope.json'], c.io), 3);
  db.close();
});

t.test('verify sees one consistent snapshot while another process keeps appending and signing', async (t) => {
  const { home, db } = await gatewayHome();
  db.close();
  const dbFile = join(home, 'data', 'darwaza.db');
  const root = process.cwd();
  const code = `
    import { openDatabase } from '${root}/src/store/index.ts';
    import { AuditLog } from '${root}/src/audit/index.ts';
    import { getSodium } from '${root}/src/crypto/sodium.ts';
    const s = await getSodium();
    const kp = s.crypto_sign_keypair();
    const db = openDatabase(${JSON.stringify(dbFile)});
    const log = AuditLog.open(db, { signer: { keyId: 'writer', publicKey: kp.publicKey, sign: (b) => s.crypto_sign_detached(b, kp.privateKey) } });
    process.stdout.write(Buffer.from(kp.publicKey).toString('base64') + '\\n');
    const end = Date.now() + 2500;
    let i = 0;
    while (Date.now() < end) {
      db.transaction(() => log.append(Array.from({ length: 64 }, () => ({ event: 'delivered', time: new Date().toISOString(), messageId: 'w-' + i++ }))))();
      if (i % 640 === 0) log.signTreeHead();
      await new Promise((r) => setImmediate(r));
    }
    log.signTreeHead();
    db.close();
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const writerKey = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  // both the first signer's key and the writer's are trusted, as after a key rotation
  const fileKeys = { keys: [{ publicKey: writerKey }] };
  const d2 = openDatabase(dbFile);
  fileKeys.keys.push(...AuditLog.open(d2).keys().map((k) => ({ publicKey: Buffer.from(k.publicKey).toString('base64') })));
  d2.close();
  writeFileSync(join(home, 'both.json'), JSON.stringify(fileKeys));
  const exits = new Promise<number | null>((r) => child.once('exit', r));
  let runs = 0;
  let done = false;
  void exits.then(() => (done = true));
  while (!done) {
    const c = io(home);
    const code = await command.run(['verify', '--public-key', 'both.json'], c.io);
    t.equal(code, 0, `verify run ${++runs}: ${c.out[0]}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(await exits, 0, 'the writer finished cleanly');
  t.ok(runs >= 2, 'verified more than once while the writer ran');
  const c = io(home);
  t.equal(await command.run(['verify', '--public-key', 'both.json'], c.io), 0);
  t.match(c.out[0], /VERIFIED: \d+ entries/);
});
