/**
 * Issue 6's acceptance through the real gateway (child processes, real sockets):
 * what reaches the national service is sealed and signed, and the reference receiver
 * refuses altered, replayed and foreign envelopes; nothing on the appliance's disk holds
 * PHI in clear; a signing-key rotation keeps queued envelopes deliverable; a tampered
 * queued payload is dead-lettered while the rest is delivered.
 */
import t from 'tap';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { frame } from '../../src/ingress/mllp/index.js';
import { REPO, prepareDir, runCli, simReceived, startGatewayProcess, startSimulatorProcess, waitDelivered, waitFor } from '../helpers/processes.js';
import { freePort } from '../helpers/net.js';
import { startCaptureServer } from '../helpers/capture.js';
import { findPhi } from '../helpers/phi.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { getSodium, sealAndSerialize, signerFromSeed } from '../../src/crypto/index.js';
import { post } from '../helpers/http.js';

const FAST_RETRY = { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 };

/** Known PHI strings, each distinctive enough that a chance match is impossible. */
const PHI = {
  urduName: 'زرنگار قریشی بلوچ',
  englishName: 'Zarnigar Qureshi-Baloch',
  givenName: 'Zarnigar',
  familyName: 'Qureshi-Baloch',
  cnic: '35202-1234567-1',
  cnicDigits: '3520212345671',
  phone: '+92 300 1234567',
  address: 'House 17, Street 9, Gulberg III',
  note: 'Complains of chest pain since the Basant kite festival',
};

function patient(id: string) {
  return {
    resourceType: 'Patient',
    id,
    text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><p>${PHI.note}</p></div>` },
    identifier: [{ system: 'https://nadra.gov.pk/cnic', value: PHI.cnic }],
    name: [
      { use: 'official', text: PHI.englishName, family: PHI.familyName, given: [PHI.givenName] },
      { use: 'usual', text: PHI.urduName, extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/language', valueCode: 'ur' }] },
    ],
    telecom: [{ system: 'phone', value: PHI.phone, use: 'mobile' }],
    gender: 'female',
    birthDate: '1987-03-14',
    address: [{ line: [PHI.address], city: 'Lahore', country: 'PK' }],
  };
}

/** A consent for the patient, naming them by display as a registration desk would. */
function consentWithName(id: string) {
  const c = consentFor(id) as any;
  c.patient.display = PHI.englishName;
  return c;
}


async function postRaw(port: number, body: Buffer | string, key: string) {
  const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/vnd.darwaza.envelope+json', 'idempotency-key': key }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  return { status: r.status, text: await r.text() };
}

const message = async (port: number, id: string) => (await (await fetch(`http://127.0.0.1:${port}/messages/${id}`)).json()) as any;

t.test('the national service receives only sealed, signed envelopes: no PHI on the wire; altered, replayed and foreign envelopes are refused', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = FAST_RETRY;
  });
  const wire = await startCaptureServer(ports.sim); // stands where the national service is: keeps raw bytes
  const gw = await startGatewayProcess(dir);
  t.teardown(async () => {
    await gw.kill();
    await wire.stop();
  });
  const pid = 'pk-mrn-88417203';
  t.equal((await post(ports.lan, '/fhir/Consent', consentWithName(pid))).status, 201, 'the consent is registered');
  const sent = await post(ports.lan, '/fhir/Patient', patient(pid));
  t.equal(sent.status, 202, sent.text);
  const obs = await post(ports.lan, '/fhir/Observation', { ...observation(pid, 1), note: [{ text: PHI.note }] });
  t.equal(obs.status, 202, obs.text);
  await waitDelivered(ports.lan, sent.body.id);
  await waitDelivered(ports.lan, obs.body.id);

  t.ok(wire.captured.length >= 2, `${wire.captured.length} requests reached the upstream`);
  const all = Buffer.concat(wire.captured.map((c) => Buffer.concat([Buffer.from(`${c.method} ${c.url}\n${c.rawHeaders}\n\n`), c.body])));
  t.same(findPhi(all, { ...PHI, patientId: pid }), [], 'no PHI string, in any encoding, in the bytes on the wire (request lines, headers and bodies)');
  for (const c of wire.captured) {
    const env = JSON.parse(c.body.toString('utf8'));
    t.equal(env.alg, 'x25519-xchacha20poly1305', 'sealed to the recipient');
    t.same(Object.keys(env).sort(), ['alg', 'data', 'kid', 'meta', 'nonce', 'rkid', 'sig', 'spk', 'v'], 'exactly the fields of the spec');
    t.equal(env.meta.id, c.headers['idempotency-key'], 'meta.id is the Idempotency-Key');
  }

  // Honesty: the PHI is really inside, for the holder of the recipient key.
  const patientEnvelope = wire.captured.find((c) => c.headers['idempotency-key'] === sent.body.id)!;
  t.ok(patientEnvelope, 'the Patient message was captured');
  const file = join(dir, 'patient.envelope');
  writeFileSync(file, patientEnvelope.body);
  const opened = runCli(['envelope', 'open', '--key', 'certs/recipient-national-telemed.key', file], { cwd: dir });
  t.equal(opened.code, 0, `darwaza envelope open verifies and opens it ${opened.stderr}`);
  const inside = Buffer.from(opened.stdout, 'utf8');
  t.ok(findPhi(inside, { cnic: PHI.cnic }).length > 0, 'the CNIC is inside the envelope');
  t.ok(findPhi(inside, { urduName: PHI.urduName }).length > 0, 'the Urdu name is inside');
  t.ok(findPhi(inside, { name: PHI.englishName, phone: PHI.phone, address: PHI.address, note: PHI.note }).length >= 4, 'name, phone, address and note are inside');
  t.equal(JSON.parse(opened.stderr).meta.id, sent.body.id, 'the metadata (on stderr) names the message');
  // The detector itself: the same payload in a clear envelope (base64) is caught, every value of it.
  const clear = Buffer.from(JSON.stringify({ alg: 'none', data: Buffer.from(opened.stdout, 'utf8').toString('base64') }));
  t.same(
    findPhi(clear, { ...PHI, patientId: pid }).filter((h) => h.includes('(base64)')).map((h) => h.split(' ')[0]).filter((v, i, a) => a.indexOf(v) === i).sort(),
    Object.keys({ ...PHI, patientId: pid }).filter((k) => k !== 'cnicDigits').sort(),
    'the detector finds each PHI value in base64 of the payload (so a clear envelope would fail this test)',
  );

  // The reference receiver (the simulator acting as the national service) judges altered bytes.
  const simPort = await freePort();
  const sim = await startSimulatorProcess(dir, simPort, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());
  const original = patientEnvelope.body.toString('utf8');
  const env = JSON.parse(original);

  const flips: [string, string][] = [];
  for (const field of ['data', 'sig', 'nonce', 'spk']) {
    const at = original.indexOf(`"${field}":"`) + field.length + 4 + 5;
    const ch = original[at];
    flips.push([field, original.slice(0, at) + (ch === 'A' ? 'B' : 'A') + original.slice(at + 1)]);
  }
  const metaAt = original.indexOf('"purpose":"') + 11;
  flips.push(['meta.purpose', original.slice(0, metaAt) + 'X' + original.slice(metaAt + 1)]);
  for (const [what, body] of flips) {
    const r = await postRaw(simPort, body, `flip-${what}`);
    t.ok(r.status >= 400 && r.status !== 409, `one changed byte in ${what} → refused (${r.status} ${r.text})`);
  }
  // A raw bit flip in the ciphertext bytes themselves, re-encoded.
  const ct = Buffer.from(env.data, 'base64');
  ct[Math.floor(ct.length / 2)] ^= 0x01;
  const r1 = await postRaw(simPort, JSON.stringify({ ...env, data: ct.toString('base64') }), 'flip-bit');
  t.equal(r1.status, 401, `a flipped ciphertext bit fails the signature (${r1.text})`);

  const first = await postRaw(simPort, patientEnvelope.body, sent.body.id);
  t.equal(first.status, 200, `the untouched envelope is accepted (${first.text})`);
  const replay = await postRaw(simPort, patientEnvelope.body, sent.body.id);
  t.equal(replay.status, 409, `the same envelope again is refused as a replay (${replay.text})`);
  const replayOtherKey = await postRaw(simPort, patientEnvelope.body, 'another-key');
  t.equal(replayOtherKey.status, 409, 'also under another Idempotency-Key: replay is judged by the signed meta.id');

  // Another gateway's key: a well-formed envelope to the right recipient, signed by a stranger.
  await getSodium();
  const stranger = signerFromSeed(new Uint8Array(randomBytes(32)));
  const recipientPub = readFileSync(join(dir, 'certs', 'recipient-national-telemed.pub'), 'utf8').trim();
  const foreign = sealAndSerialize({
    meta: { ...env.meta, id: 'foreign-0001' },
    payload: JSON.stringify(patient('someone')),
    recipient: { keyId: env.rkid, publicKey: recipientPub },
    signer: stranger,
    seal: true,
  });
  const r2 = await postRaw(simPort, foreign.body, 'foreign-0001');
  t.equal(r2.status, 403, `an envelope signed by an unknown gateway key is refused (${r2.text})`);
  // The stranger claiming our gateway's key id: the signature does not verify.
  const impostor = JSON.parse(sealAndSerialize({
    meta: { ...env.meta, id: 'foreign-0002' },
    payload: 'x',
    recipient: { keyId: env.rkid, publicKey: recipientPub },
    signer: { ...stranger, keyId: env.kid } as typeof stranger,
    seal: true,
  }).body);
  const r3 = await postRaw(simPort, JSON.stringify(impostor), 'foreign-0002');
  t.equal(r3.status, 401, `a stranger's signature under our key id is refused (${r3.text})`);

  const stats = (await (await fetch(`http://127.0.0.1:${simPort}/_sim/stats`)).json()) as any;
  const got = await simReceived(simPort);
  t.same(got.ids, [sent.body.id], 'the receiver accepted only the untouched envelope');
  t.equal(stats.rejected, flips.length + 1 + 2, 'and counted every altered or foreign post as rejected');
  t.equal(stats.duplicates, 2, 'and the two replays as duplicates (answered 409: delivered already, stored once)');
});

/** Every file in the data folder (db, -wal, -shm and anything else), read whole. */
function readDataDir(dataDir: string): { files: string[]; bytes: Buffer } {
  const files = readdirSync(dataDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as any).path, e.name));
  return { files, bytes: Buffer.concat(files.map((f) => readFileSync(f))) };
}

t.test('nothing on the appliance disk holds PHI in clear: the queue and consents in SQLite, its WAL and SHM, while running and after SIGKILL', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = FAST_RETRY;
  });
  const gw = await startGatewayProcess(dir); // no upstream: everything stays queued
  let killed = false;
  t.teardown(() => (killed ? undefined : gw.kill()));
  const ids = ['pk-mrn-55120977', 'pk-mrn-55120978', 'pk-mrn-55120979'];
  const queued: string[] = [];
  for (const id of ids) {
    t.equal((await post(ports.lan, '/fhir/Consent', consentWithName(id))).status, 201, `consent for ${id} registered`);
    for (let i = 0; i < 3; i++) {
      const r = await post(ports.lan, '/fhir/Patient', patient(id));
      t.equal(r.status, 202);
      queued.push(r.body.id);
    }
    const o = await post(ports.lan, '/fhir/Observation', { ...observation(id, 7), note: [{ text: PHI.note }] });
    t.equal(o.status, 202);
    queued.push(o.body.id);
  }
  // A consent filed under the CNIC (the identifier is in it), then an HL7 v2 ADT^A01 over MLLP for that patient, with a CNIC, Urdu and English names, phones, address and e-mail.
  const byCnic = consentFor('unused') as any;
  byCnic.patient = { identifier: { system: 'https://nadra.gov.pk/cnic', value: '35202-1234567-1' }, display: 'Ayesha Khan' };
  const cnicConsent = await post(ports.lan, '/fhir/Consent', byCnic);
  t.equal(cnicConsent.status, 201, `a consent filed under the CNIC ${cnicConsent.text.slice(0, 200)}`);
  const adt = readFileSync(join(REPO, 'test', 'fixtures', 'hl7v2', 'adt-a01-pk-cnic.hl7'), 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '');
  const ack = await new Promise<string>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: ports.mllp }, () => s.write(frame(adt)));
    let got = '';
    s.on('data', (d) => {
      got += d.toString('utf8');
      if (got.includes('\x1c\r')) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
  });
  t.match(ack, /MSA\|(AA|CA)\|SHIFA-000101/, 'the ADT^A01 is acknowledged');
  const v2Id = /accepted as ([0-9a-f-]{36})/.exec(ack)?.[1];
  t.ok(v2Id, 'and names its message id');
  const v2 = v2Id ? await message(ports.lan, v2Id) : undefined;
  const v2State = v2?.destinations?.[0]?.state;
  t.ok(v2State && v2State !== 'delivered', `the ADT^A01 is queued: ${v2State} (${JSON.stringify(v2?.outcomes?.[0]?.reasons)})`);
  if (v2Id) queued.push(v2Id);

  const states = await Promise.all(queued.map(async (id) => (await message(ports.lan, id)).destinations[0].state));
  t.ok(states.every((s) => s !== 'delivered'), `all ${queued.length} messages are still queued (${[...new Set(states)]})`);

  const needles: Record<string, string> = { ...PHI };
  for (const [i, id] of ids.entries()) {
    needles[`patientId${i}`] = id;
    needles[`patientRef${i}`] = `Patient/${id}`;
  }
  Object.assign(needles, {
    v2Cnic: '3520212345671',
    v2Mrn: 'MRN-778812',
    v2UrduGiven: 'عائشہ',
    v2English: 'Khan^Ayesha^Bibi',
    v2Email: 'ayesha.khan@example.pk',
    v2Phone: '^92^300^1234567',
    v2Address: 'House 12\\S\\Street 5',
    v2Spouse: 'Khan^Imran',
    v2Site: 'Ayesha Khan',
  });
  const dataDir = join(dir, 'data');
  const running = readDataDir(dataDir);
  t.ok(running.files.some((f) => f.endsWith('darwaza.db')), 'the database file was read');
  t.ok(running.files.some((f) => f.endsWith('darwaza.db-wal')), `and its WAL (${running.files.map((f) => f.slice(dataDir.length + 1)).join(', ')})`);
  t.ok(running.bytes.length > 100_000, `${running.bytes.length} bytes on disk`);
  t.same(findPhi(running.bytes, needles), [], 'no PHI, and no patient id, in any data file while the gateway runs');

  await gw.kill('SIGKILL');
  killed = true;
  const after = readDataDir(dataDir);
  t.same(findPhi(after.bytes, needles), [], `none after SIGKILL either (${after.files.map((f) => f.slice(dataDir.length + 1)).join(', ')})`);

  // The detector is live on these very files: the (non-PHI) message ids are there in clear.
  t.ok(after.bytes.includes(Buffer.from(queued[0])), 'a queued message id is found in the same bytes');
});

t.test('key rotation with overlap: envelopes queued under the old signing key and under the new one are all accepted', async (t) => {
  const dir = t.testdir();
  const { ports, configFile } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = FAST_RETRY;
  });
  const gw = await startGatewayProcess(dir); // the uplink is down
  t.teardown(() => gw.kill());
  const before = JSON.parse(runCli(['keys', 'list', '--json', '--config', configFile], { cwd: dir }).stdout);
  t.equal(before.trustedGatewayKeys.length, 1, 'one gateway key at first');
  const oldKid: string = before.trustedGatewayKeys[0].keyId;

  t.equal((await post(ports.lan, '/fhir/Patient', patientFor('p-rot'))).status, 202, 'registered first: the age is known');
  t.equal((await post(ports.lan, '/fhir/Consent', consentFor('p-rot'))).status, 201);
  const oldIds: string[] = [];
  for (let i = 0; i < 3; i++) oldIds.push((await post(ports.lan, '/fhir/Observation', observation('p-rot', i))).body.id);

  const rotated = runCli(['keys', 'rotate', '--config', configFile], { cwd: dir });
  t.equal(rotated.code, 0, `darwaza keys rotate ${rotated.stdout}${rotated.stderr}`);
  const listed = JSON.parse(runCli(['keys', 'list', '--json', '--config', configFile], { cwd: dir }).stdout);
  const kids = listed.trustedGatewayKeys.map((k: { keyId: string }) => k.keyId);
  t.equal(kids.length, 2, 'both keys are listed for receivers during the overlap');
  const newKid = kids.find((k: string) => k !== oldKid);
  // The running gateway takes the new key on SIGHUP (the reload signal), without a restart.
  gw.proc.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 1000));
  const newIds: string[] = [];
  for (let i = 10; i < 13; i++) newIds.push((await post(ports.lan, '/fhir/Observation', observation('p-rot', i))).body.id);
  t.equal(gw.proc.exitCode, null, 'the gateway is still running');

  // The national service comes up, with a tap on the wire in front of it.
  const simPort = await freePort();
  const sim = await startSimulatorProcess(dir, simPort, { extraArgs: ['--certs', join(dir, 'certs')] });
  const wire = await startCaptureServer(ports.sim, { forwardTo: simPort });
  t.teardown(async () => {
    await wire.stop();
    await sim.kill();
  });
  const all = [...oldIds, ...newIds];
  const t0 = Date.now();
  await waitFor(async () => (await simReceived(simPort)).count >= all.length || undefined, { what: 'all six delivered (the breaker cools down for 30 s)', timeoutMs: 50_000 });
  t.comment(`delivered ${Date.now() - t0} ms after the upstream came up`);
  const got = await simReceived(simPort);
  t.same(new Set(got.ids), new Set(all), 'the simulator accepted every envelope, old key and new');
  t.equal(got.count, all.length);
  const stats = (await (await fetch(`http://127.0.0.1:${simPort}/_sim/stats`)).json()) as any;
  t.equal(stats.rejected, 0, `nothing was rejected (${JSON.stringify(stats)})`);
  for (const id of all) t.equal((await message(ports.lan, id)).destinations[0].state, 'delivered');

  const kidOf = (id: string) => {
    const c = wire.captured.find((x) => x.headers['idempotency-key'] === id);
    return c ? JSON.parse(c.body.toString('utf8')).kid : undefined;
  };
  t.same(oldIds.map(kidOf), oldIds.map(() => oldKid), 'messages queued before the rotation went out under the old key');
  t.same(newIds.map(kidOf), newIds.map(() => newKid), 'messages queued after it went out under the new key');
});

t.test('a payload tampered with at rest is dead-lettered with a clear reason; the gateway keeps running and delivers the rest', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = FAST_RETRY;
  });
  let gw = await startGatewayProcess(dir);
  t.equal((await post(ports.lan, '/fhir/Patient', patientFor('p-tamper'))).status, 202, 'registered first: the age is known');
  t.equal((await post(ports.lan, '/fhir/Consent', consentFor('p-tamper'))).status, 201);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await post(ports.lan, '/fhir/Observation', observation('p-tamper', i))).body.id);
  await gw.kill('SIGTERM');

  // An attacker with the file flips one byte of one queued (encrypted) payload.
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(join(dir, 'data', 'darwaza.db'));
  const victim = ids[1];
  const row = db.prepare('SELECT seq, payload FROM queue_items WHERE message_id = ?').get(victim) as { seq: number; payload: Buffer };
  t.ok(row?.payload?.length > 100, 'the queued payload is in the file');
  t.notOk(row.payload.includes(Buffer.from('"resourceType"')), 'and it is not readable JSON (encrypted)');
  const flipped = Buffer.from(row.payload);
  flipped[Math.floor(flipped.length / 2)] ^= 0x20;
  t.equal(db.prepare('UPDATE queue_items SET payload = ? WHERE seq = ?').run(flipped, row.seq).changes, 1);
  // And swaps two valid ciphertexts of the same day between rows (each still decrypts).
  const [x, y] = [ids[2], ids[3]].map((id) => db.prepare('SELECT seq, payload FROM queue_items WHERE message_id = ?').get(id) as { seq: number; payload: Buffer });
  db.prepare('UPDATE queue_items SET payload = ? WHERE seq = ?').run(y.payload, x.seq);
  db.prepare('UPDATE queue_items SET payload = ? WHERE seq = ?').run(x.payload, y.seq);
  db.close();
  const swapped = [ids[2], ids[3]];

  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  gw = await startGatewayProcess(dir);
  t.teardown(async () => {
    await gw.kill();
    await sim.kill();
  });
  const intact = ids.filter((x) => x !== victim && !swapped.includes(x));
  for (const id of intact) await waitDelivered(ports.lan, id);
  const dead = await waitFor(async () => {
    const m = await message(ports.lan, victim);
    return m.destinations[0].state === 'dead' ? m.destinations[0] : undefined;
  }, { what: 'the tampered message dead-lettered' });
  t.match(dead.lastError, /tamper|integrity|authentic|altered/i, `with a clear reason: "${dead.lastError}"`);
  t.notMatch(dead.lastError, /p-tamper/, 'that names no patient');
  for (const id of swapped) {
    const d = await waitFor(async () => {
      const m = await message(ports.lan, id);
      return m.destinations[0].state === 'dead' ? m.destinations[0] : undefined;
    }, { what: 'a swapped payload dead-lettered' });
    t.match(d.lastError, /failed authentication/i, `a ciphertext swapped in from another row is dead-lettered too: "${d.lastError}"`);
  }
  t.equal(gw.proc.exitCode, null, 'the gateway is still running');
  t.equal((await fetch(`http://127.0.0.1:${ports.admin}/healthz`)).status, 200, 'and healthy');
  const got = await simReceived(ports.sim);
  t.same(new Set(got.ids), new Set(intact), 'the other messages were delivered, the tampered ones were not');
  t.equal((await (await fetch(`http://127.0.0.1:${ports.sim}/_sim/stats`)).json() as any).rejected, 0, 'and nothing out of place reached the receiver');
  const after = await post(ports.lan, '/fhir/Observation', observation('p-tamper', 9));
  t.equal(after.status, 202, 'new messages are still accepted');
  await waitDelivered(ports.lan, after.body.id);
});

t.test('a withdrawal destroys the patient queued payloads: their ciphertext is not left readable in the file or its WAL', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = FAST_RETRY;
  });
  const gw = await startGatewayProcess(dir); // the uplink is down
  t.teardown(() => gw.kill());
  const consentIds: Record<string, string> = {};
  const ids: Record<string, string[]> = { 'pk-mrn-61000001': [], 'pk-mrn-61000002': [] };
  for (const p of Object.keys(ids)) {
    const c = await post(ports.lan, '/fhir/Consent', consentWithName(p));
    t.equal(c.status, 201);
    consentIds[p] = c.body.id;
    for (let i = 0; i < 3; i++) ids[p].push((await post(ports.lan, '/fhir/Patient', patient(p))).body.id);
  }
  const [P, Q] = Object.keys(ids);
  // What an attacker who copied the disk earlier would look for later: P's ciphertexts.
  const Database = (await import('better-sqlite3')).default;
  const reader = new Database(join(dir, 'data', 'darwaza.db'), { readonly: true });
  const blobOf = (id: string) => (reader.prepare('SELECT payload FROM queue_items WHERE message_id = ?').get(id) as { payload: Buffer }).payload;
  const blobs = ids[P].map(blobOf);
  const qBlobs = ids[Q].map(blobOf);
  reader.close();
  t.equal(blobs.filter((b) => b?.length > 200).length, 3, "P's three payloads are queued, encrypted");

  const del = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent/${consentIds[P]}`, { method: 'DELETE' });
  t.equal(del.status, 200, 'P withdraws');
  for (const id of ids[P]) {
    await waitFor(async () => (await message(ports.lan, id)).destinations[0].state === 'withdrawn', { what: `${id} withdrawn` });
  }
  await new Promise((r) => setTimeout(r, 500));
  const { bytes, files } = readDataDir(join(dir, 'data'));
  const left = blobs.filter((b) => bytes.includes(b.subarray(60, 160)));
  t.equal(left.length, 0, `none of P's ciphertexts is left in ${files.map((f) => f.split('/').pop()).join(', ')} (found ${left.length} of 3)`);
  t.equal(qBlobs.filter((b) => bytes.includes(b.subarray(60, 160))).length, 3, "while Q's ciphertexts, still queued, are found in the same bytes (the search is live)");
  for (const id of ids[Q]) t.not((await message(ports.lan, id)).destinations[0].state, 'withdrawn', "Q's messages stay queued");
});
