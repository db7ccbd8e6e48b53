/**
 * Issue 7 acceptance through the real gateway: the tamper-evident audit log.
 *
 * One appliance folder (`darwaza init`), the gateway and the upstream simulator as child
 * processes. The subtests run in order and share that folder:
 *   1. bundles with known PHI are posted and delivered; the 202 answers name the policy hash;
 *   2. concurrent load while the gateway is SIGKILLed 5 times, then a clean stop: the log
 *      verifies against the pinned key and matches the queue, entry for entry;
 *   then, on the stopped appliance: policy-activated entries, the PHI scan of every audit
 *   table and export, `audit disclosures`, offline verification of an export (also from the
 *   single binary), and tampering with copies of the database.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, prepareDir, runCli, startGatewayProcess, startSimulatorProcess, waitDelivered, waitFor, type Ports, type Running } from '../helpers/processes.js';
import { sleep } from '../helpers/net.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { AuditLog } from '../../src/audit/index.js';
import { getSodium, signerFromSeed } from '../../src/crypto/index.js';
import { openDatabase } from '../../src/store/index.js';
import { randomBytes } from 'node:crypto';
import { post } from '../helpers/http.js';
import { filesUnder } from '../helpers/phi.js';

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
const ROUNDS = 5;
const WORKERS = 8;
const HEAD_EVERY = 25;

/** A patient with every kind of PHI the issue names; none of it may reach the log. */
const PHI_PATIENT_ID = 'pt-phi-q8z3k';
const CNIC = '35202-1234567-1';
const MRN_SYSTEM = 'urn:oid:2.16.586.1.77.4';
const MRN = 'MRN-88213-LHR';
const PHI: Record<string, string> = {
  given: 'Zarghuna',
  family: 'Khattak-Yousafzai',
  cnic: CNIC,
  cnicDigits: CNIC.replace(/-/g, ''),
  phone: '+92 300 7654321',
  phoneDigits: '923007654321',
  address: 'House 14, Street 9, Gulberg III',
  city: 'Lahore Cantt',
  mrn: MRN,
  birthDate: '1987-03-14',
  note: 'Zarghuna reports dizziness after the wedding in Mardan',
  patientId: PHI_PATIENT_ID,
};

function phiBundle(i: number) {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: `urn:uuid:7a1f0c4e-0000-4000-8000-00000000000${i}`,
        resource: {
          resourceType: 'Patient',
          id: PHI_PATIENT_ID,
          // The MRN first: the identity key is still the CNIC (classify prefers it).
          identifier: [
            { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: MRN_SYSTEM, value: MRN },
            { system: 'http://nadra.gov.pk/cnic', value: CNIC },
          ],
          name: [{ use: 'official', family: PHI.family, given: [PHI.given] }],
          telecom: [{ system: 'phone', value: PHI.phone, use: 'mobile' }],
          gender: 'female',
          birthDate: PHI.birthDate,
          address: [{ line: [PHI.address], city: PHI.city, country: 'PK' }],
        },
        request: { method: 'PUT', url: `Patient/${PHI_PATIENT_ID}` },
      },
      {
        fullUrl: `urn:uuid:7a1f0c4e-0000-4000-8000-10000000000${i}`,
        resource: { ...observation(PHI_PATIENT_ID, 900 + i), note: [{ text: PHI.note }] },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };
}


/** Which PHI values occur in `bytes` (plain, JSON-escaped, base64, hex; case-insensitive). */
function phiIn(bytes: Buffer): string[] {
  const text = bytes.toString('latin1').toLowerCase();
  const hits: string[] = [];
  for (const [label, value] of Object.entries(PHI)) {
    const utf8 = Buffer.from(value, 'utf8');
    const forms = [value, JSON.stringify(value).slice(1, -1), utf8.toString('hex'), utf8.toString('base64').replace(/=+$/, ''), utf8.toString('base64url')];
    if (forms.some((f) => text.includes(f.toLowerCase()))) hits.push(label);
  }
  return hits;
}


/** The gateway's database (read-only, while it runs or after). */
function openRo(dir: string) {
  return new Database(join(dir, 'data', 'darwaza.db'), { readonly: true, fileMustExist: true });
}

/** A copy of the stopped appliance's database in a fresh data dir, with the append-only triggers dropped. */
function tamperCopy(src: string, name: string): { dataDir: string; db: Database.Database } {
  const dataDir = join(src, 'tamper', name);
  mkdirSync(dataDir, { recursive: true });
  const from = join(src, 'data', 'darwaza.db');
  const ro = new Database(from, { readonly: true });
  ro.exec(`VACUUM INTO '${join(dataDir, 'darwaza.db')}'`);
  ro.close();
  const db = new Database(join(dataDir, 'darwaza.db'));
  for (const trig of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'").pluck().all() as string[]) db.exec(`DROP TRIGGER ${trig}`);
  return { dataDir, db };
}

// ---- shared state, filled in order ----
const dir = t.testdir();
let ports: Ports;
let sim: Running | undefined;
let gw: Running | undefined;
let starts = 0;
const answers: any[] = [];
const phiMessageIds: string[] = [];
let keyFile = '';

t.teardown(async () => {
  await gw?.kill('SIGKILL');
  await sim?.kill();
});

async function startGateway() {
  gw = await startGatewayProcess(dir);
  starts++;
  return gw;
}

t.before(async () => {
  ({ ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 20, maxDelayMs: 200, maxAgeMs: 3600000 };
    c.audit = { ...(c.audit ?? {}), treeHeadEveryEntries: HEAD_EVERY };
  }));
  sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  // The pinned key a regulator holds: the gateway's active Ed25519 public key, and nothing else.
  const manifest = JSON.parse(readFileSync(join(dir, 'certs', 'signing-keys.json'), 'utf8'));
  const active = manifest.keys.find((k: { keyId: string }) => k.keyId === manifest.active);
  keyFile = join(dir, 'pinned-public-key.txt');
  writeFileSync(keyFile, active.publicKey + '\n');
});

t.test('bundles carrying PHI are acknowledged with the policy hash and delivered', async (t) => {
  await startGateway();
  const consent = await post(ports.lan, '/fhir/Consent', consentFor(PHI_PATIENT_ID));
  t.equal(consent.status, 201, 'the consent is registered');
  // The load patient's age becomes known (an unknown age is read as a minor's, and this consent is not a guardian's).
  t.equal((await post(ports.lan, '/fhir/Patient', patientFor('p-crash'))).status, 202);
  t.equal((await post(ports.lan, '/fhir/Consent', consentFor('p-crash'))).status, 201);
  for (let i = 0; i < 3; i++) {
    const r = await post(ports.lan, '/fhir', phiBundle(i));
    t.equal(r.status, 202, JSON.stringify(r.body).slice(0, 300));
    answers.push(r.body);
    phiMessageIds.push(r.body.id);
  }
  for (const id of phiMessageIds) await waitDelivered(ports.lan, id);
  await gw!.kill();
});

t.test('after 5 SIGKILLs under load and a clean stop, the log verifies against the pinned key and matches the queue', async (t) => {
  const acked = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const g = await startGateway();
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        try {
          const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, {
            method: 'POST',
            headers: FHIR,
            body: JSON.stringify(observation('p-crash', round * 100000 + w * 1000 + i)),
          });
          if (r.status === 202) acked.add(((await r.json()) as { id: string }).id);
        } catch {
          return; // the gateway died mid-request: not acknowledged
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await sleep(300 + Math.floor(Math.random() * 500));
    await g.kill('SIGKILL');
    running = false;
    await Promise.all(workers);
  }
  // Two per kill at least: a loaded 2-core machine acknowledged 37 over 5 kills; the point is that kills land mid-load.
  t.ok(acked.size >= ROUNDS * 2, `load was real: ${acked.size} messages acknowledged`);

  await startGateway();
  const db = openRo(dir);
  try {
    await waitFor(() => (db.prepare("SELECT count(*) FROM queue_items WHERE state != 'delivered'").pluck().get() as number) === 0, {
      timeoutMs: 30_000,
      what: 'every queued item delivered',
    });
  } finally {
    db.close();
  }
  t.equal(await gw!.kill('SIGTERM'), 0, 'the gateway stops cleanly (and signs a last tree head)');

  const v = runCli(['audit', 'verify', '--data-dir', join(dir, 'data'), '--public-key', keyFile]);
  t.equal(v.code, 0, v.stdout + v.stderr);
  t.match(v.stdout, /^VERIFIED: \d+ entries, \d+ signed tree heads?, all consistent/m);
  t.notMatch(v.stdout, /not yet under a signed head/, 'the shutdown head covers every entry');

  const q = openRo(dir);
  try {
    const messages = q.prepare('SELECT id FROM queue_messages').pluck().all() as string[];
    const items = q.prepare('SELECT message_id AS id, destination, state FROM queue_items').all() as Array<{ id: string; destination: string; state: string }>;
    const entries = q.prepare('SELECT idx, event, message_id AS id, destination, entry FROM audit_entries ORDER BY idx').all() as Array<{ idx: number; event: string; id: string | null; destination: string | null; entry: string }>;
    const has = new Set(entries.filter((e) => e.id).map((e) => `${e.id}\u0000${e.event}\u0000${e.destination ?? ''}`));
    const hasEvent = new Set(entries.filter((e) => e.id).map((e) => `${e.id}\u0000${e.event}`));
    const inQueue = new Set(messages);
    t.same([...acked].filter((id) => !inQueue.has(id)).slice(0, 5), [], 'every acknowledged message is in the queue');
    const lack = (what: string[]) => what.slice(0, 5);
    // One leaf per destination decision: the decided entry records the receipt, the decision and (a permit) the queueing.
    t.same(lack(messages.filter((id) => !hasEvent.has(`${id}\u0000decided`))), [], `each of the ${messages.length} queued messages has a decided entry`);
    const permits = new Set(entries.filter((e) => e.event === 'decided' && JSON.parse(e.entry).decision === 'permit').map((e) => `${e.id}\u0000${e.destination}`));
    t.same(lack(items.filter((i) => !permits.has(`${i.id}\u0000${i.destination}`)).map((i) => i.id)), [], 'each item has a permit entry for its destination');
    t.same(lack(entries.filter((e) => e.event === 'received' || e.event === 'queued').map((e) => `${e.idx}:${e.event}`)), [], 'no separate received or queued leaves');
    const delivered = items.filter((i) => i.state === 'delivered');
    t.equal(delivered.length, items.length, 'every item was delivered');
    t.same(lack(delivered.filter((i) => !has.has(`${i.id}\u0000delivered\u0000${i.destination}`)).map((i) => i.id)), [], 'each delivered item has a delivered entry');
    const known = new Set(messages);
    t.same(lack(entries.filter((e) => e.id && !known.has(e.id)).map((e) => `${e.idx}:${e.event}`)), [], 'no entry names a message the queue does not hold');
    // Each (message, event, destination) once: a kill between the delivery and its record may
    // redeliver, but the record itself is written once with the state change.
    const counts = new Map<string, number>();
    for (const e of entries) if (e.id && e.event !== 'delivered') counts.set(`${e.id}/${e.event}/${e.destination}`, (counts.get(`${e.id}/${e.event}/${e.destination}`) ?? 0) + 1);
    t.same([...counts].filter(([, n]) => n > 1), [], 'each destination decision is recorded once');
    const dup = new Map<string, number>();
    for (const e of entries) if (e.event === 'delivered') dup.set(`${e.id}/${e.destination}`, (dup.get(`${e.id}/${e.destination}`) ?? 0) + 1);
    t.same([...dup].filter(([, n]) => n > 1), [], 'each delivery is recorded once');
    const tokenOf = new Map(entries.filter((e) => e.event === 'decided').map((e) => [e.id, JSON.parse(e.entry).patientToken]));
    const mismatched = entries.filter((e) => e.event === 'delivered' && JSON.parse(e.entry).patientToken !== tokenOf.get(e.id));
    t.same(mismatched.slice(0, 5).map((e) => e.idx), [], 'each delivered entry names the patient token its message was received with');
    t.comment(`${acked.size} acknowledged under SIGKILL, ${messages.length} messages, ${entries.length} audit entries`);
  } finally {
    q.close();
  }
});

t.test('each start records policy-activated with the hash the 202 answers name', async (t) => {
  const hashes = new Set<string>();
  for (const a of answers) for (const d of a.destinations) hashes.add(d.policy?.sha256);
  t.equal(hashes.size, 1, `the answers name one policy: ${[...hashes].join(', ')}`);
  const [sha] = [...hashes];
  t.match(sha, /^[0-9a-f]{64}$/);
  const db = openRo(dir);
  try {
    const rows = (db.prepare("SELECT idx, entry FROM audit_entries WHERE event = 'policy-activated' ORDER BY idx").all() as Array<{ idx: number; entry: string }>).map((r) => ({ idx: r.idx, ...JSON.parse(r.entry) }));
    t.equal(rows.length, starts, `one policy-activated entry per start (${starts} starts)`);
    t.equal(rows[0]?.idx, 0, 'the first entry of the log is the policy activation');
    t.same([...new Set(rows.map((r) => r.policySha256))], [sha], 'with the policy hash the answers carry');
    const firstData = db.prepare("SELECT min(idx) FROM audit_entries WHERE event = 'decided'").pluck().get() as number;
    t.ok(rows[0].idx < firstData, 'the policy is recorded before any message decided under it');
  } finally {
    db.close();
  }
});

t.test('no PHI in any audit table, the exports, the FHIR export or the breach report', async (t) => {
  const db = openRo(dir);
  const chunks: Buffer[] = [];
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit_%'").pluck().all() as string[];
    t.ok(tables.includes('audit_entries') && tables.includes('audit_tree_heads'), tables.join(', '));
    for (const table of tables) {
      for (const row of db.prepare(`SELECT * FROM ${table}`).raw().all() as unknown[][]) {
        for (const v of row) chunks.push(Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8'));
      }
    }
    const marks = phiMessageIds.map(() => '?').join(',');
    const rows = db.prepare(`SELECT event, patient_token FROM audit_entries WHERE message_id IN (${marks})`).all(...phiMessageIds) as Array<{ event: string; patient_token: string | null }>;
    t.same([...new Set(rows.map((r) => r.event))].sort(), ['decided', 'delivered'], 'the PHI messages were decided (one leaf per destination: receipt, decision, queueing) and delivered');
    t.same(rows.filter((r) => !r.patient_token).map((r) => r.event), [], 'every entry about them carries the patient token (delivered too)');
    t.equal(new Set(rows.map((r) => r.patient_token)).size, 1, 'one token for the patient across messages and events');
  } finally {
    db.close();
  }
  t.same(phiIn(Buffer.concat(chunks)), [], 'audit tables');

  const native = join(dir, 'phi-export-native');
  const fhir = join(dir, 'phi-export-fhir');
  const e1 = runCli(['audit', 'export', '--out', native], { cwd: dir });
  t.equal(e1.code, 0, e1.stderr);
  const e2 = runCli(['audit', 'export', '--out', fhir, '--format', 'fhir'], { cwd: dir });
  t.equal(e2.code, 0, e2.stderr);
  const fhirText = readFileSync(join(fhir, 'AuditEvent.ndjson'), 'utf8');
  t.ok(fhirText.split('\n').filter(Boolean).length > 10, 'the FHIR export holds AuditEvents');
  for (const f of [...filesUnder(native), ...filesUnder(fhir)]) t.same(phiIn(readFileSync(f)), [], f.slice(dir.length + 1));

  const since = '2000-01-01T00:00:00Z';
  const until = '2100-01-01T00:00:00Z';
  const b1 = runCli(['audit', 'breach-report', '--since', since, '--until', until, '--json'], { cwd: dir });
  t.equal(b1.code, 0, b1.stderr);
  const report = JSON.parse(b1.stdout);
  t.ok(report.patients.length >= 2 && report.entries > 0, `the breach report counts patients (${report.patients.length}) and entries (${report.entries})`);
  t.ok(report.dataClasses.includes('Observation') && report.dataClasses.includes('Patient'), `and the classes of data delivered (${report.dataClasses.join(', ')})`);
  t.same(phiIn(Buffer.from(b1.stdout + b1.stderr)), [], 'breach-report --json');
  const b2 = runCli(['audit', 'breach-report', '--since', since, '--until', until, '--events', 'received,decided,queued,delivered', '--out', join(dir, 'breach.json')], { cwd: dir });
  t.equal(b2.code, 0, b2.stderr);
  t.same(phiIn(Buffer.from(b2.stdout + b2.stderr + readFileSync(join(dir, 'breach.json'), 'utf8'))), [], 'breach-report summary and --out over every event');
  const p = runCli(['audit', 'prove', phiMessageIds[0]!], { cwd: dir });
  t.equal(p.code, 0, p.stderr);
  t.same(phiIn(Buffer.from(p.stdout + p.stderr)), [], 'audit prove of a PHI message');
  // The scanner finds what it looks for: the same scan of the posted bundle hits every value.
  t.same(phiIn(Buffer.from(JSON.stringify(phiBundle(0)))).sort(), Object.keys(PHI).filter((k) => !['cnicDigits', 'phoneDigits'].includes(k)).sort(), 'the scan sees PHI where it is');
});

t.test('audit disclosures finds the patient by Patient/<id>, CNIC or MRN, and nothing for another patient', async (t) => {
  const sha = answers[0].destinations[0].policy.sha256;
  const consentId = answers[0].destinations[0].consent?.id;
  t.ok(consentId, `the 202 answer names the consent (${consentId})`);
  for (const id of [`Patient/${PHI_PATIENT_ID}`, CNIC, `cnic|${CNIC}`, `${MRN_SYSTEM}|${MRN}`]) {
    const r = runCli(['audit', 'disclosures', '--patient', id, '--json'], { cwd: dir });
    t.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { entries: Array<Record<string, any>> };
    const delivered = out.entries.filter((e) => e.disclosed);
    t.same(
      delivered.map((e) => e.messageId).sort(),
      [...phiMessageIds].sort(),
      `--patient ${id === CNIC ? 'CNIC' : id.split('|')[0]}: each delivered bundle is a disclosure`,
    );
    for (const e of delivered) {
      t.equal(e.destination, 'national-telemed');
      t.equal(e.purpose, 'TREAT');
      t.equal(e.policySha256, sha);
    }
    const decided = out.entries.filter((e) => e.event === 'decided');
    t.equal(decided.length, phiMessageIds.length, 'and each decision');
    for (const e of decided) t.equal(e.policySha256, sha, 'under the policy the answer named');
    t.ok(decided.every((e) => e.consentId === consentId && e.decision === 'permit'), 'under the consent that permitted it');
    // Entries without a message (e.g. the consent's registration, an admin action) may be listed too.
    const others = out.entries.filter((e) => e.messageId !== undefined && !phiMessageIds.includes(e.messageId));
    t.same(others.map((e) => `${e.index}:${e.event}:${e.messageId}`), [], 'no other patient\'s messages');
    t.same(out.entries.filter((e) => e.messageId === undefined && e.event !== 'admin-action').map((e) => e.event), [], 'and no message-less event but admin actions');
    t.same(phiIn(Buffer.from(r.stdout)), [], 'the output echoes no PHI');
  }
  const plain = runCli(['audit', 'disclosures', '--patient', CNIC], { cwd: dir });
  t.equal(plain.code, 0, plain.stderr);
  t.match(plain.stdout, /: \d+ audited events, 3 disclosures \(data delivered\)/);
  t.match(plain.stdout, /delivered\s+to national-telemed\s+purpose TREAT\s+data [^ ]*Observation.*consent [0-9a-f-]+.*policy [0-9a-f]{12}…/);
  t.match(plain.stdout, /decided\s+to national-telemed\s+purpose TREAT.*consent [0-9a-f-]+.*policy [0-9a-f]{12}…\s+decision permit/);
  t.match(plain.stdout, consentId);
  t.same(phiIn(Buffer.from(plain.stdout + plain.stderr)), [], 'the plain listing shows no PHI');
  for (const other of ['Patient/p-nobody', '35202-7654321-9']) {
    const r = runCli(['audit', 'disclosures', '--patient', other, '--json'], { cwd: dir });
    t.equal(r.code, 0, r.stderr);
    t.same(JSON.parse(r.stdout).entries, [], `${other} lists nothing`);
  }
  // The load patient has many entries (the plain listing: --json of them all can outgrow runCli's buffer).
  const load = runCli(['audit', 'disclosures', '--patient', 'p-crash'], { cwd: dir });
  t.equal(load.code, 0, load.stderr);
  const head = /: (\d+) audited events, (\d+) disclosures/.exec(load.stdout);
  t.ok(head && Number(head[2]) > 0, `another patient has their own disclosures (${head?.[0]})`);
  const ids = JSON.parse(readFileSync(join(dir, 'breach.json'), 'utf8'));
  t.ok(ids.patients.length >= 2, 'the breach report sees both patients');
  const fullIdx = runCli(['audit', 'disclosures', '--patient', `Patient/${PHI_PATIENT_ID}`, '--json'], { cwd: dir });
  const phiIdx = new Set((JSON.parse(fullIdx.stdout).entries as Array<{ index: number }>).map((e) => `(entry ${e.index})`));
  t.notOk(load.stdout.split('\n').some((l) => phiIdx.has(/\(entry \d+\)$/.exec(l)?.[0] ?? '')), "and none of this patient's entries");
});

t.test('an export verifies offline with the pinned key, from the bundle and from the single binary, and a flipped byte fails it', async (t) => {
  const out = join(dir, 'regulator-export');
  const e = runCli(['audit', 'export', '--out', out], { cwd: dir });
  t.equal(e.code, 0, e.stderr);
  for (const f of ['entries.ndjson', 'tree-heads.json', 'gateway-public-key.json', 'manifest.json']) t.ok(existsSync(join(out, f)), f);
  const v = runCli(['audit', 'verify', '--offline', out, '--public-key', keyFile]);
  t.equal(v.code, 0, v.stdout + v.stderr);
  t.match(v.stdout, /^VERIFIED/m);

  const binary = join(REPO, 'dist', 'darwaza');
  if (existsSync(binary)) {
    const empty = mkdtempSync(join(tmpdir(), 'darwaza-regulator-'));
    copyFileSync(keyFile, join(empty, 'key.txt'));
    const b = runCli(['audit', 'verify', '--offline', out, '--public-key', 'key.txt'], { cwd: empty, bin: binary, env: { NODE_PATH: '' } });
    t.equal(b.code, 0, b.stdout + b.stderr);
    t.match(b.stdout, /^VERIFIED/m, 'the single binary verifies it from an empty folder');
  } else {
    t.comment('dist/darwaza not built (npm run build:binary): the binary check is skipped');
  }

  const bad = join(dir, 'regulator-export-flipped');
  mkdirSync(bad);
  for (const f of readdirSync(out)) copyFileSync(join(out, f), join(bad, f));
  const lines = readFileSync(join(bad, 'entries.ndjson'), 'utf8').split('\n');
  const k = Math.floor(lines.length / 2);
  const pos = lines[k]!.indexOf('"time":"') + 8 + 3; // a digit of the year
  const c = lines[k]![pos]!;
  lines[k] = lines[k]!.slice(0, pos) + (c === '1' ? '2' : '1') + lines[k]!.slice(pos + 1);
  writeFileSync(join(bad, 'entries.ndjson'), lines.join('\n'));
  const f = runCli(['audit', 'verify', '--offline', bad, '--public-key', keyFile]);
  t.equal(f.code, 1, f.stdout + f.stderr);
  t.match(f.stdout, /^FAILED/m);
  // A full export has no stored leaf hashes: the verifier bounds the altered entry by the signed heads around it.
  const named = /index (\d+)\b/.exec(f.stdout);
  const range = /indices (\d+)–(\d+)/.exec(f.stdout);
  t.ok(
    (named && Number(named[1]) === k) || (range && Number(range[1]) <= k && k <= Number(range[2])),
    `points at the altered entry ${k}: ${f.stdout.split('\n').slice(1).join(' ')}`,
  );
});

t.test('tampering with a copy of the database is caught: a flipped byte, a deleted entry, a truncation', async (t) => {
  const src = openRo(dir);
  const size = src.prepare('SELECT count(*) FROM audit_entries').pluck().get() as number;
  const heads = src.prepare('SELECT DISTINCT tree_size FROM audit_tree_heads ORDER BY tree_size').pluck().all() as number[];
  src.close();
  t.ok(heads.length >= 3, `several signed heads (${heads.join(', ')})`);
  const verify = (dataDir: string, extra: string[] = []) => runCli(['audit', 'verify', '--data-dir', dataDir, '--public-key', keyFile, ...extra]);

  // An untouched copy verifies: the failures below are the tampering's doing.
  const clean = tamperCopy(dir, 'clean');
  clean.db.close();
  t.equal(verify(clean.dataDir).code, 0, 'an untouched copy verifies');

  await t.test('one flipped byte in one stored entry', async (t) => {
    const { dataDir, db } = tamperCopy(dir, 'flip');
    const victim = Math.floor(size / 2);
    const entry = db.prepare('SELECT entry FROM audit_entries WHERE idx = ?').pluck().get(victim) as string;
    const pos = entry.indexOf('"time":"') + 8 + 15; // a digit of the minutes
    const flipped = entry.slice(0, pos) + (entry[pos] === '1' ? '2' : '1') + entry.slice(pos + 1);
    t.equal(Buffer.compare(Buffer.from(flipped), Buffer.from(entry)) !== 0 && flipped.length === entry.length, true);
    db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = ?').run(flipped, victim);
    db.close();
    const r = verify(dataDir);
    t.equal(r.code, 1, r.stdout + r.stderr);
    t.match(r.stdout, /^FAILED/m);
    t.match(r.stdout, new RegExp(`First bad entry: index ${victim}\\b`), `names entry ${victim}`);
  });

  await t.test('one deleted entry', async (t) => {
    const { dataDir, db } = tamperCopy(dir, 'delete');
    db.prepare('DELETE FROM audit_entries WHERE idx = ?').run(Math.floor(size / 3));
    db.close();
    const r = verify(dataDir);
    t.equal(r.code, 1, r.stdout + r.stderr);
    t.match(r.stdout, /^FAILED/m);
  });

  await t.test('history rewritten and re-signed with another key fails against the pinned key', async (t) => {
    // An insider hides one disclosure: rebuilds the log without that delivered entry, under a key of their own.
    await getSodium();
    const attacker = signerFromSeed(new Uint8Array(randomBytes(32)));
    const dataDir = join(dir, 'tamper', 'forged');
    mkdirSync(dataDir, { recursive: true });
    const ro = openRo(dir);
    const texts = ro.prepare('SELECT entry FROM audit_entries ORDER BY idx').pluck().all() as string[];
    ro.close();
    const hidden = texts.findIndex((x) => x.includes('"event":"delivered"') && x.includes(phiMessageIds[0]!));
    t.ok(hidden >= 0, 'the disclosure to hide is in the log');
    const db = openDatabase(join(dataDir, 'darwaza.db'));
    const log = AuditLog.open(db, { signer: attacker });
    db.transaction(() => {
      texts.forEach((x, i) => {
        if (i === hidden) return;
        const { v: _v, ...event } = JSON.parse(x);
        log.append([event]);
      });
    })();
    log.signTreeHead();
    db.close();
    const attackerKey = join(dataDir, 'attacker.pub');
    writeFileSync(attackerKey, Buffer.from(attacker.publicKey).toString('base64'));
    const own = verify(dataDir, []);
    t.equal(runCli(['audit', 'verify', '--data-dir', dataDir, '--public-key', attackerKey]).code, 0, 'the forged log is self-consistent under its own key');
    t.equal(own.code, 1, own.stdout + own.stderr);
    t.match(own.stdout, /^FAILED/m, 'but fails against the pinned key');
  });

  await t.test('a truncated log passes alone but fails against a head the regulator kept', async (t) => {
    // The regulator kept an inclusion proof earlier: its signed head is the latest one.
    const proofFile = join(dir, 'kept-proof.json');
    const p = runCli(['audit', 'prove', String(size - 1)], { cwd: dir });
    t.equal(p.code, 0, p.stderr);
    writeFileSync(proofFile, p.stdout);
    t.equal(JSON.parse(p.stdout).signedHead.treeSize, size);
    const { dataDir, db } = tamperCopy(dir, 'truncate');
    const cut = heads[Math.floor(heads.length / 2)]!; // back to an earlier signed head: a clean-looking cut
    db.prepare('DELETE FROM audit_entries WHERE idx >= ?').run(cut);
    db.prepare('DELETE FROM audit_nodes WHERE (idx + 1) * (1 << level) > ?').run(cut);
    db.prepare('DELETE FROM audit_tree_heads WHERE tree_size > ?').run(cut);
    db.close();
    const alone = verify(dataDir);
    t.equal(alone.code, 0, `without a kept head the cut at ${cut} of ${size} is invisible: ${alone.stdout}`);
    const r = verify(dataDir, ['--from', proofFile]);
    t.equal(r.code, 1, r.stdout + r.stderr);
    t.match(r.stdout, /^FAILED/m);
    const exported = verify(dataDir, ['--from', join(dir, 'regulator-export', 'tree-heads.json')]);
    t.equal(exported.code, 1, 'and against the head of an earlier export');
  });
});
