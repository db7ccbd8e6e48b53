/**
 * Forged database rows, from outside: a real gateway process, stopped; its data dir forged
 * with better-sqlite3 by someone who can write the file but has no KEK; the gateway started
 * again. Every forgery is refused AND audited (integrity-failure), never acted on.
 */
import t from 'tap';
import { join } from 'node:path';
import { prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitDelivered, waitFor } from '../helpers/processes.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { post } from '../helpers/http.js';
import { packAgreesWithConfig } from '../helpers/pack.js';

const FAST_RETRY = { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 };
const TELEMED = 'national-telemed';
const OTHER = 'national-telemed-b';

const message = async (port: number, id: string) => (await (await fetch(`http://127.0.0.1:${port}/messages/${id}`)).json()) as any;
const del = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`, { method: 'DELETE' });
const openDb = async (dir: string, readonly = false) => {
  const Database = (await import('better-sqlite3')).default;
  return new Database(join(dir, 'data', 'darwaza.db'), { readonly });
};

interface VersionRow {
  id: string;
  version: number;
  status: string;
  received_at: string;
  encrypted: number;
  resource: Buffer;
}

t.test('forged consent and queue rows are refused, audited, and never acted on', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = FAST_RETRY;
    // A second destination, so a queue row can be moved to it.
    c.destinations.push({ ...c.destinations[0], name: OTHER });
  });
  packAgreesWithConfig(dir); // the test's own pack declares the second destination
  // Phase 1: the uplink is down; consents are stored and withdrawn; messages queue up.
  let gw = await startGatewayProcess(dir);
  const consentIds: Record<string, string> = {};
  for (const p of ['p-plain', 'p-flip', 'p-copy', 'p-bump', 'p-rollback', 'p-ok', 'p-queue']) {
    // Registered first, so the age is known: only the consent decides below.
    t.equal((await post(ports.lan, '/fhir/Patient', patientFor(p))).status, 202, `${p} registered`);
  }
  for (const p of ['p-plain', 'p-flip', 'p-copy', 'p-bump', 'p-rollback', 'p-ok', 'p-queue']) {
    const r = await post(ports.lan, '/fhir/Consent', consentFor(p));
    t.equal(r.status, 201, `consent of ${p} stored`);
    consentIds[p] = r.body.id;
  }
  for (const p of ['p-plain', 'p-flip', 'p-copy', 'p-bump', 'p-rollback']) {
    t.equal((await del(ports.lan, `/fhir/Consent/${consentIds[p]}`)).status, 200, `${p} withdraws (version 2, inactive)`);
  }
  const queued: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await post(ports.lan, '/fhir/Observation', observation('p-queue', i));
    t.equal(r.status, 202);
    queued.push(r.body.id);
  }
  await gw.kill('SIGTERM');

  // Phase 2: the forger, with the file and without the KEK.
  const db = await openDb(dir);
  const version = (p: string, v: number) => db.prepare('SELECT * FROM consent_version WHERE id = ? AND version = ?').get(consentIds[p], v) as VersionRow;
  const setCurrent = (p: string, v: number, status: string) =>
    db.prepare('UPDATE consent_current SET version = ?, status = ? WHERE id = ?').run(v, status, consentIds[p]);
  const insertVersion = (r: VersionRow) =>
    db.prepare('INSERT INTO consent_version (id, version, status, received_at, reason, encrypted, resource) VALUES (?, ?, ?, ?, NULL, ?, ?)').run(
      r.id, r.version, r.status, r.received_at, r.encrypted, r.resource,
    );
  t.equal(version('p-plain', 2).status, 'inactive', 'version 2 is the withdrawal');
  t.equal(version('p-plain', 2).encrypted, 1, 'stored encrypted');

  // Consent forgery 1: version 3 written in clear as active (encrypted = 0).
  const plain = { ...consentFor('p-plain'), id: consentIds['p-plain'], meta: { versionId: '3', lastUpdated: new Date().toISOString() } };
  insertVersion({ ...version('p-plain', 2), version: 3, status: 'active', encrypted: 0, resource: Buffer.from(JSON.stringify(plain)) });
  setCurrent('p-plain', 3, 'active');
  // Consent forgery 2: the withdrawal's status flipped to active in the clear columns.
  db.prepare("UPDATE consent_version SET status = 'active' WHERE id = ? AND version = 2").run(consentIds['p-flip']);
  setCurrent('p-flip', 2, 'active');
  // Consent forgery 3: the active version 1 ciphertext copied over the withdrawal (version 2).
  db.prepare("UPDATE consent_version SET status = 'active', resource = ? WHERE id = ? AND version = 2").run(version('p-copy', 1).resource, consentIds['p-copy']);
  setCurrent('p-copy', 2, 'active');
  // Consent forgery 4: version bumped — version 1 (active) copied as a new version 3.
  insertVersion({ ...version('p-bump', 1), version: 3 });
  setCurrent('p-bump', 3, 'active');
  // Consent forgery 5: the current pointer rolled back to the active version 1.
  setCurrent('p-rollback', 1, 'active');

  // Queue forgery 1: two valid ciphertexts of the same day swapped between rows.
  const item = (id: string, d = TELEMED) => db.prepare('SELECT seq, payload FROM queue_items WHERE message_id = ? AND destination = ?').get(id, d) as { seq: number; payload: Buffer };
  const [x, y] = [item(queued[0]!), item(queued[1]!)];
  db.prepare('UPDATE queue_items SET payload = ? WHERE seq = ?').run(y.payload, x.seq);
  db.prepare('UPDATE queue_items SET payload = ? WHERE seq = ?').run(x.payload, y.seq);
  // Queue forgery 2: a row's destination column changed (the message goes to the other destination).
  const moved = item(queued[2]!);
  db.prepare('DELETE FROM queue_items WHERE message_id = ? AND destination = ?').run(queued[2], OTHER);
  t.equal(db.prepare('UPDATE queue_items SET destination = ? WHERE seq = ?').run(OTHER, moved.seq).changes, 1);
  db.close();

  // Phase 3: the gateway starts on the forged file; the uplink is up.
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  gw = await startGatewayProcess(dir);
  t.teardown(async () => {
    await gw.kill();
    await sim.kill();
  });

  // The untouched queued message goes out; the forged rows are dead-lettered, not delivered.
  await waitDelivered(ports.lan, queued[3]!);
  for (const id of [queued[0]!, queued[1]!]) {
    const d = await waitFor(async () => (await message(ports.lan, id)).destinations.find((x: any) => x.destination === TELEMED && x.state === 'dead'), {
      what: `swapped payload of ${id} dead-lettered`,
    });
    t.match(d.lastError, /failed authentication/i, `finding: a ciphertext swapped between queue rows is refused: "${d.lastError}"`);
  }
  const movedState = await waitFor(async () => (await message(ports.lan, queued[2]!)).destinations.find((x: any) => x.destination === OTHER && x.state === 'dead'), {
    what: 'the row moved to another destination dead-lettered',
  });
  t.match(movedState.lastError, /failed authentication/i, 'finding: a queue row whose destination column was changed is refused');

  // Messages posted now for the forged patients are denied: no forged consent is acted on.
  const posted: Record<string, string> = {};
  for (const p of ['p-plain', 'p-flip', 'p-copy', 'p-bump', 'p-rollback', 'p-ok']) {
    const r = await post(ports.lan, '/fhir/Observation', observation(p, 9));
    t.equal(r.status, 202);
    posted[p] = r.body.id;
    const d = r.body.destinations.find((x: any) => x.name === TELEMED);
    if (p === 'p-ok') t.equal(d.decision, 'queued', 'control: an untouched consent still permits');
    else t.equal(d.decision, 'denied', `finding: forged consent of ${p} is not acted on (${d.reasons.join(' | ')})`);
  }
  await waitDelivered(ports.lan, posted['p-ok']!);
  const got = new Set((await simReceived(ports.sim)).ids);
  t.same(
    [...queued.slice(0, 3), ...Object.entries(posted).filter(([p]) => p !== 'p-ok').map(([, id]) => id)].filter((id) => got.has(id)),
    [],
    'nothing forged reached the national service',
  );
  t.ok(got.has(queued[3]!) && got.has(posted['p-ok']!), 'while the untouched messages did');

  // Every refusal is in the audit log, naming the table and the row, without PHI.
  const audit = await openDb(dir, true);
  t.teardown(() => audit.close());
  const entries = await waitFor(async () => {
    const rows = (audit.prepare("SELECT entry FROM audit_entries WHERE event = 'integrity-failure'").all() as { entry: string }[]).map((r) => JSON.parse(r.entry));
    return rows.length >= 8 ? rows : undefined;
  }, { what: 'integrity-failure audit entries' });
  const consentRefusals = (p: string) => entries.filter((e: any) => e.consentId === consentIds[p]);
  t.match(consentRefusals('p-plain'), [{ consentVersion: '3', reason: /consent_version refused: the row is not encrypted/ }], 'plaintext row audited');
  t.match(consentRefusals('p-flip'), [{ consentVersion: '2', reason: /consent_version refused: ciphertext failed authentication/ }], 'flipped status audited');
  t.match(consentRefusals('p-copy'), [{ consentVersion: '2', reason: /consent_version refused: ciphertext failed authentication/ }], 'copied ciphertext audited');
  t.match(consentRefusals('p-bump'), [{ consentVersion: '3', reason: /consent_version refused: ciphertext failed authentication/ }], 'bumped version audited');
  t.match(consentRefusals('p-rollback'), [{ consentVersion: '1', reason: /consent_current refused: .*latest stored version/ }], 'rolled-back pointer audited');
  for (const [id, d] of [[queued[0], TELEMED], [queued[1], TELEMED], [queued[2], OTHER]]) {
    t.match(entries.filter((e: any) => e.messageId === id), [{ destination: d, decision: 'refused', reason: /queue_items refused/ }], `queue row of ${id} audited`);
  }
  t.notMatch(JSON.stringify(entries), /p-plain|p-flip|p-queue|Vital|Patient\//, 'no patient identifier or content in the entries');
  t.equal(gw.proc.exitCode, null, 'the gateway keeps running');
});
