/**
 * Issue 3's acceptance through the real gateway (a child process, real HTTP on loopback):
 * residency (a destination outside Pakistan gets 0 bytes), sensitive categories need a
 * consent that names them and leave labelled no-re-disclosure, signed policies at start,
 * hot reload that keeps the last good policy, and the admin explain without PHI.
 *
 * One gateway serves every subtest but the signing one; the hot-reload subtest changes
 * the policy, so it runs last.
 */
import t from 'tap';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { prepareDir, runCli, startGatewayProcess, startSimulatorProcess, waitDelivered, waitFor } from '../helpers/processes.js';
import { packAgreesWithConfig } from '../helpers/pack.js';
import { freePort, sleep } from '../helpers/net.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
const V3 = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

async function send(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init = {
    method,
    headers: { ...FHIR, ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  };
  // runCli blocks this process's event loop for seconds (spawnSync), long enough for the gateway
  // to close an idle keep-alive socket; the next request may then be written to that closed
  // socket. Try once more on a new one: that is the client's race, not the gateway's answer.
  const r = await fetch(`http://127.0.0.1:${port}${path}`, init).catch((err: { cause?: { code?: string } }) => {
    if (err.cause?.code !== 'UND_ERR_SOCKET') throw err;
    return fetch(`http://127.0.0.1:${port}${path}`, init);
  });
  const text = await r.text();
  return { status: r.status, text, body: (text ? JSON.parse(text) : undefined) as any };
}

const outcomeFor = (answer: any, name: string) => answer.destinations.find((d: { name: string }) => d.name === name);

/** A mental-health Condition (ICD-10 F32.1 or SNOMED 35489007 depressive disorder). */
function depression(patientId: string, coding: 'icd10' | 'snomed' = 'icd10') {
  return {
    resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: {
      coding: [
        coding === 'icd10'
          ? { system: 'http://hl7.org/fhir/sid/icd-10', code: 'F32.1', display: 'Moderate depressive episode' }
          : { system: 'http://snomed.info/sct', code: '35489007', display: 'Depressive disorder' },
      ],
    },
    subject: { reference: `Patient/${patientId}` },
    recordedDate: '2026-11-20',
  };
}

/** consentFor(patient) plus a nested permit that names the mental-health category (PSY). */
function consentNamingPsy(patientId: string, id?: string) {
  const c: any = consentFor(patientId);
  if (id) c.id = id;
  c.provision.provision = [{ type: 'permit', securityLabel: [{ system: V3, code: 'PSY' }] }];
  return c;
}

const dir = t.testdir();
const dePort = await freePort();
const { ports, configFile } = await prepareDir(dir, (c) => {
  c.destinations[0].retry = { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 };
  c.destinations.push({
    name: 'foreign-clinic',
    url: `http://127.0.0.1:${dePort}/ingest`,
    country: 'DE',
    kind: 'treatment',
    organization: 'foreign-clinic',
    format: 'fhir',
    consentModel: 'opt-in',
    timeoutMs: 5000,
    concurrency: 2,
    retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 },
  });
  c.routes[0].destinations.push('foreign-clinic');
  c.audit = { ...c.audit, treeHeadEveryEntries: 5 }; // signed tree heads during the run, for audit verify
});
packAgreesWithConfig(dir); // the test's pack declares foreign-clinic (DE) as its config does
const gw = await startGatewayProcess(dir);
// The national service (PK), in this process so the test can read what it opened.
const pk = await startRecordingSimulator(join(dir, 'certs'), ports.sim);
// The foreign service: a plain simulator that would record ANY body it was sent.
const de = await startSimulatorProcess(dir, dePort);
t.teardown(async () => {
  await gw.kill();
  await pk.stop();
  await de.kill();
});

const lan = ports.lan;
const admin = ports.admin;

t.test('identifiable data to a destination outside Pakistan is denied by the residency rule, and that simulator receives 0 bytes', async (t) => {
  await send(lan, 'POST', '/fhir/Patient', patientFor('pol-de-1')); // registered first: its age is known
  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('pol-de-1'))).status, 201, 'the patient consents to treatment disclosures');
  const r = await send(lan, 'POST', '/fhir/Observation', observation('pol-de-1', 1));
  t.equal(r.status, 202, r.text);
  const foreign = outcomeFor(r.body, 'foreign-clinic');
  t.equal(foreign?.decision, 'denied', 'the DE destination is denied');
  t.ok(foreign.ruleIds.includes('identifiable-data-stays-in-pakistan'), `the decision names the rule (${foreign.ruleIds})`);
  t.match(foreign.reasons.join(' '), /may not leave Pakistan/, 'in plain words');
  t.equal(outcomeFor(r.body, 'national-telemed')?.decision, 'queued', 'the PK destination takes it');

  await waitDelivered(lan, r.body.id);
  t.ok(pk.opened.has(r.body.id), 'the PK service received and opened the message');
  const status = (await send(lan, 'GET', `/messages/${r.body.id}`)).body;
  t.same(
    status.destinations.map((d: { destination?: string; name?: string }) => d.destination ?? d.name),
    ['national-telemed'],
    'nothing was queued for the DE destination',
  );
  await sleep(500); // give a (wrongly) queued delivery time to reach the DE simulator
  // (the DE simulator is checked again at the end of the file, after every other subtest)
  const stats = (await (await fetch(`http://127.0.0.1:${dePort}/_sim/stats`)).json()) as { total: number; bytes: number; distinct: number };
  t.equal(stats.total, 0, 'the DE simulator saw no delivery attempt');
  t.equal(stats.bytes, 0, 'and 0 bytes');
  t.equal(stats.distinct, 0);
});

t.test('a mental-health Condition under a general consent is denied; a consent naming PSY lets it through, labelled no-re-disclosure', async (t) => {
  await send(lan, 'POST', '/fhir/Patient', patientFor('pol-mh-1')); // registered first: its age is known
  const general = await send(lan, 'POST', '/fhir/Consent', consentFor('pol-mh-1'));
  t.equal(general.status, 201);
  const consentId = general.body.id;
  t.ok(consentId, 'the registry answers the consent id');

  for (const coding of ['icd10', 'snomed'] as const) {
    const denied = await send(lan, 'POST', '/fhir/Condition', depression('pol-mh-1', coding));
    t.equal(denied.status, 202, denied.text);
    const o = outcomeFor(denied.body, 'national-telemed');
    t.equal(o.decision, 'denied', `${coding}: a general permit does not release mental-health data`);
    t.equal(o.consent?.effect, 'deny', `${coding}: consent decided it (${JSON.stringify(o.consent)})`);
    t.ok(o.ruleIds.includes('sensitive-categories-need-named-consent'), `${coding}: the sensitive-categories rule asked for it (${o.ruleIds})`);
    t.match(o.reasons.join(' '), /mental/i, `${coding}: the reason names the category: ${o.reasons.join(' | ')}`);
    t.notMatch(o.reasons.join(' '), /pol-mh-1/, 'and not the patient');
  }

  const psy = await send(lan, 'PUT', `/fhir/Consent/${consentId}`, consentNamingPsy('pol-mh-1', consentId));
  t.equal(psy.status, 200, `a new version that names PSY (${psy.text.slice(0, 200)})`);
  const permitted = await send(lan, 'POST', '/fhir/Condition', depression('pol-mh-1'));
  const o = outcomeFor(permitted.body, 'national-telemed');
  t.equal(o.decision, 'queued', `released by the consent that names the category: ${o.reasons.join(' | ')}`);
  t.equal(outcomeFor(permitted.body, 'foreign-clinic').decision, 'denied', 'still not abroad');
  await waitDelivered(lan, permitted.body.id);

  const got = pk.opened.get(permitted.body.id);
  t.ok(got, 'the national service opened it');
  t.ok(got!.sealed, 'sealed to the recipient');
  const resource = JSON.parse(got!.payload);
  const labels = (resource.meta?.security ?? []).map((c: { code: string }) => c.code);
  t.ok(labels.includes('NORDSCLCDS'), `the data leaves with the no-re-disclosure label (${labels})`);
  t.ok(labels.includes('PSY'), 'and its sensitivity label');
  t.equal(got!.meta.policySha256, o.policy.sha256, 'the envelope names the policy that decided');
});

t.test('a transaction is all or nothing: an entry no destination may take gives 422 naming the entry and rule; one denied abroad keeps the whole bundle from there', async (t) => {
  const entry = (resource: object) => ({ resource, request: { method: 'POST', url: (resource as { resourceType: string }).resourceType } });
  await send(lan, 'POST', '/fhir/Patient', patientFor('pol-tx-1')); // registered first: its age is known
  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('pol-tx-1'))).status, 201);
  const strange = { ...observation('pol-tx-1', 2), meta: { security: [{ system: 'urn:example:labels', code: 'SECRET-X' }] } };
  const refused = await send(lan, 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [entry(observation('pol-tx-1', 1)), entry(strange)] });
  t.equal(refused.status, 422, `an entry with a label darwaza does not know can go nowhere: ${refused.text.slice(0, 300)}`);
  t.equal(refused.body.resourceType, 'OperationOutcome');
  const issues = refused.body.issue as { expression?: string[]; details?: { text?: string } }[];
  const forPk = issues.filter((i) => /national-telemed/.test(i.details?.text ?? ''));
  t.equal(forPk.length, 1, `one issue for the PK destination (of ${issues.length})`);
  t.same(forPk[0]?.expression, ['Bundle.entry[1]'], 'it names entry 1');
  t.match(forPk[0]?.details?.text, /unknown-label-denied/, 'and the rule');
  t.notMatch(refused.text, /pol-tx-1/, 'and no patient id');

  const ok = await send(lan, 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [entry(observation('pol-tx-1', 3)), entry(observation('pol-tx-1', 4))] });
  t.equal(ok.status, 202, ok.text);
  t.equal(outcomeFor(ok.body, 'national-telemed').decision, 'queued');
  t.equal(outcomeFor(ok.body, 'foreign-clinic').decision, 'denied', 'the whole transaction is kept from the DE destination');
  await waitDelivered(lan, ok.body.id);
  const bundle = JSON.parse(pk.opened.get(ok.body.id)!.payload);
  t.equal(bundle.entry.length, 2, 'the PK service received the whole transaction');
});

t.test('in an emergency (ETREAT) mental-health data goes to a treatment service in Pakistan without consent, labelled and audited', async (t) => {
  const r = await send(lan, 'POST', '/fhir/Condition', depression('pol-er-1'), { 'x-purpose-of-use': 'ETREAT', 'x-break-glass-reason': 'unconscious patient in the emergency room' });
  t.equal(r.status, 202, r.text);
  const o = outcomeFor(r.body, 'national-telemed');
  t.equal(o.decision, 'queued', `no consent on file, released for the vital interest: ${o.reasons.join(' | ')}`);
  t.ok(o.ruleIds.includes('emergency-treatment-vital-interest'), `by the emergency rule (${o.ruleIds})`);
  t.notOk(o.consent, 'consent was not asked');
  t.equal(outcomeFor(r.body, 'foreign-clinic').decision, 'denied', 'never abroad, even in an emergency');
  await waitDelivered(lan, r.body.id);
  const labels = (JSON.parse(pk.opened.get(r.body.id)!.payload).meta?.security ?? []).map((c: { code: string }) => c.code);
  t.ok(labels.includes('NORDSCLCDS'), `labelled no-re-disclosure (${labels})`);
  const db = new Database(join(dir, 'data', 'darwaza.db'), { readonly: true, fileMustExist: true });
  const decided = (db.prepare("SELECT entry FROM audit_entries WHERE event = 'decided' AND message_id = ? AND destination = 'national-telemed'").all(r.body.id) as { entry: string }[]).map((e) => JSON.parse(e.entry));
  db.close();
  t.equal(decided.length, 1, 'the release is in the audit log');
  t.ok(decided[0].ruleIds.includes('emergency-treatment-vital-interest'), 'naming the emergency rule');
  t.equal(decided[0].purpose, 'ETREAT');
});

t.test('the admin explain for a stored message gives the decisions, policy hash and rule ids, and no PHI', async (t) => {
  const cnic = '35202-7654321-9';
  const bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      {
        fullUrl: 'urn:uuid:5b0e7c1a-8d7e-4a53-9a51-7c1f2d3e4f50',
        resource: {
          resourceType: 'Patient',
          id: 'pol-ex-1',
          identifier: [{ system: 'http://nadra.gov.pk/cnic', value: cnic }],
          name: [{ family: 'Qureshi', given: ['Zainab'] }],
          telecom: [{ system: 'phone', value: '+92 300 1234567' }],
          birthDate: '1979-06-14',
        },
      },
      { resource: observation('pol-ex-1', 7) },
    ],
  };
  await send(lan, 'POST', '/fhir/Patient', patientFor('pol-ex-1')); // registered first: its age is known
  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('pol-ex-1'))).status, 201);
  const r = await send(lan, 'POST', '/fhir', bundle);
  t.equal(r.status, 202, r.text);

  const e = await send(admin, 'GET', `/messages/${r.body.id}/explain`);
  t.equal(e.status, 200);
  const outcomes = e.body.destinations as any[];
  t.same(outcomes.map((o) => [o.name, o.decision]), [['national-telemed', 'queued'], ['foreign-clinic', 'denied']]);
  const active = (await send(admin, 'GET', '/status')).body.policy;
  for (const o of outcomes) {
    t.same(o.policy, active, `${o.name}: the decision carries {policyId, version, sha256} of the policy in force`);
    t.ok(o.ruleIds.length > 0, `${o.name}: and the rules that decided (${o.ruleIds})`);
  }
  t.ok(outcomes[0].ruleIds.includes('treatment-in-pakistan'));
  t.ok(outcomes[1].ruleIds.includes('identifiable-data-stays-in-pakistan'));
  const trace = (outcomes[1].trace as string[]).join('\n');
  t.match(trace, /Rule "identifiable-data-stays-in-pakistan"[^\n]*\n[^\n]*\n\s+→ APPLIED/, 'a rule-by-rule trace in plain words: the rule that denied applied');
  t.match(trace, /Decision: DENY/);
  for (const phi of ['pol-ex-1', 'Qureshi', 'Zainab', cnic, '35202', '1234567', '1979-06-14', '5b0e7c1a']) {
    t.notOk(e.text.includes(phi), `the explain does not contain ${phi}`);
  }
  t.equal((await send(admin, 'GET', '/messages/no-such-id/explain')).status, 404, 'an unknown id is 404');
});

t.test('hot reload: a changed policy decides new messages with its hash; a broken edit keeps the last good one; the audit log verifies', async (t) => {
  const policyFile = join(dir, 'policies', 'pk', 'pk.policy.yaml');
  const original = readFileSync(policyFile, 'utf8');
  const before = (await send(admin, 'GET', '/status')).body.policy;
  t.equal(before.id, 'pk-default');

  // TREAT no longer permitted in Pakistan: nothing permits it, so it is denied.
  const changed = original.replace('purpose: [TREAT, COC, CAREMGT]', 'purpose: [COC, CAREMGT]').replace('version: "2026.11.1"', 'version: "2026.11.2-test"');
  t.not(changed, original, 'the edit applies');
  const replace = (text: string) => {
    writeFileSync(`${policyFile}.tmp`, text);
    renameSync(`${policyFile}.tmp`, policyFile); // atomic, as editors and deploy tools do
  };
  replace(changed);
  const after = await waitFor(async () => {
    const p = (await send(admin, 'GET', '/status')).body.policy;
    return p.sha256 !== before.sha256 ? p : undefined;
  }, { what: 'the new policy active', timeoutMs: 10_000 });
  t.equal(after.version, '2026.11.2-test', 'the edited policy is in force');
  // The same hash the regulator's tool computes for that file.
  writeFileSync(join(dir, 'obs.json'), JSON.stringify(observation('pol-hot-0')));
  const explained = runCli(['policy', 'explain', '--message', join(dir, 'obs.json'), '--destination', 'national-telemed', '--policy', policyFile, '--config', configFile, '--json'], { cwd: dir });
  t.equal(explained.code, 0, explained.stderr);
  t.equal(JSON.parse(explained.stdout).policy.sha256, after.sha256, 'the regulator\'s CLI computes the same policy hash for the file');

  await send(lan, 'POST', '/fhir/Patient', patientFor('pol-hot-1')); // registered first: its age is known

  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('pol-hot-1'))).status, 201);
  const r = await send(lan, 'POST', '/fhir/Observation', observation('pol-hot-1', 1));
  const o = outcomeFor(r.body, 'national-telemed');
  t.equal(o.decision, 'denied', `TREAT is now denied: ${o.reasons.join(' | ')}`);
  t.same(o.policy, after, 'by the new policy, named by its hash');

  // A broken edit (bad YAML) is refused; the last good policy stays in force.
  replace(changed + '\nrules: [ this is : not yaml\n');
  await sleep(1000); // past the watcher's debounce
  gw.proc.kill('SIGHUP'); // and an explicit reload
  await waitFor(() => /policy change refused|policy reload failed|keeping the last good/i.test(gw.output()), { what: 'the refusal logged', timeoutMs: 5000 });
  t.same((await send(admin, 'GET', '/status')).body.policy, after, 'the last good policy is still in force');
  const r2 = await send(lan, 'POST', '/fhir/Observation', observation('pol-hot-1', 2));
  t.equal(r2.status, 202, 'the gateway keeps serving');
  t.same(outcomeFor(r2.body, 'national-telemed').policy, after, 'decisions still use the last good policy');
  t.notMatch(gw.output(), /\n\s+at \S+ \(/, 'no stack trace in the log');

  // Back to the original: TREAT is permitted again under the original hash.
  replace(original);
  gw.proc.kill('SIGHUP');
  const restored = await waitFor(async () => {
    const p = (await send(admin, 'GET', '/status')).body.policy;
    return p.sha256 === before.sha256 ? p : undefined;
  }, { what: 'the original policy back', timeoutMs: 10_000 });
  const r3 = await send(lan, 'POST', '/fhir/Observation', observation('pol-hot-1', 3));
  t.equal(outcomeFor(r3.body, 'national-telemed').decision, 'queued', 'TREAT permitted again');
  t.same(outcomeFor(r3.body, 'national-telemed').policy, restored);

  // Every activation is in the audit log, and the log still verifies.
  const db = new Database(join(dir, 'data', 'darwaza.db'), { readonly: true, fileMustExist: true });
  const activated = (db.prepare("SELECT entry FROM audit_entries WHERE event = 'policy-activated' ORDER BY idx").all() as { entry: string }[]).map(
    (row) => JSON.parse(row.entry).policySha256,
  );
  db.close();
  t.same(activated, [before.sha256, after.sha256, before.sha256], 'start, the edit, the restore: each activation audited with its hash');
  const signing = JSON.parse(readFileSync(join(dir, 'certs', 'signing-keys.json'), 'utf8'));
  const gatewayKey = signing.keys.find((k: { keyId: string }) => k.keyId === signing.active).publicKey;
  writeFileSync(join(dir, 'gateway.pub'), gatewayKey + '\n');
  const v = runCli(['audit', 'verify', '--data-dir', join(dir, 'data'), '--public-key', join(dir, 'gateway.pub')], { cwd: dir });
  t.equal(v.code, 0, `darwaza audit verify passes: ${v.stdout}${v.stderr}`);
});

t.test('after every message of this file, the destination outside Pakistan has still received 0 bytes', async (t) => {
  const stats = (await (await fetch(`http://127.0.0.1:${dePort}/_sim/stats`)).json()) as { total: number; bytes: number; dropped: number };
  t.same([stats.total, stats.bytes, stats.dropped], [0, 0, 0], `DE simulator: ${JSON.stringify(stats)}`);
  t.ok(pk.opened.size >= 5, `while the PK service opened ${pk.opened.size} deliveries`);
});

t.test('an unsigned policy is refused at start when signatures are required; signed, the same config starts', async (t) => {
  const sdir = t.testdir();
  const keys = runCli(['policy', 'keygen', '--out', join(sdir, 'policy-keys')]);
  t.equal(keys.code, 0, keys.stderr);
  const pub = readFileSync(join(sdir, 'policy-keys', 'policy-signing.pub'), 'utf8').trim();
  await prepareDir(sdir, (c) => {
    c.policy.requireSigned = true;
    c.policy.trustedSigners = [pub];
  });
  const policyFile = join(sdir, 'policies', 'pk', 'pk.policy.yaml');

  const refused = runCli(['start', '--config', join(sdir, 'gateway.config.json'), '--no-simulator'], { cwd: sdir });
  t.equal(refused.code, 3, 'exit 3: a bad input file');
  t.match(refused.stderr, /pk\.policy\.yaml/, 'the message names the file');
  t.match(refused.stderr, /not signed/, 'and says what is wrong');
  t.match(refused.stderr, /darwaza policy sign/, 'and how to fix it');
  t.notMatch(refused.stdout + refused.stderr, /\n\s+at \S+/, 'no stack trace');
  t.notMatch(refused.stdout, /darwaza listening/, 'nothing listened');

  // An altered signed policy is refused too.
  const signed = runCli(['policy', 'sign', '--key', join(sdir, 'policy-keys', 'policy-signing.key'), policyFile], { cwd: sdir });
  t.equal(signed.code, 0, signed.stderr);
  const text = readFileSync(policyFile, 'utf8');
  writeFileSync(policyFile, text.replace('version: "2026.11.1"', 'version: "2026.11.9"'));
  const altered = runCli(['start', '--config', join(sdir, 'gateway.config.json'), '--no-simulator'], { cwd: sdir });
  t.equal(altered.code, 3, `an altered policy is refused: ${altered.stderr.trim().split('\n').pop()}`);
  t.match(altered.stderr, /pk\.policy\.yaml/);
  t.notMatch(altered.stdout + altered.stderr, /\n\s+at \S+/, 'no stack trace');

  writeFileSync(policyFile, text);
  const s = await startGatewayProcess(sdir);
  t.teardown(() => s.kill());
  t.match(s.output(), /darwaza listening/, 'signed by a trusted key, the same config starts');
  const adminPort = Number(JSON.parse(readFileSync(join(sdir, 'gateway.config.json'), 'utf8')).listen.admin.split(':')[1]);
  const status = async () => ((await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { policy: { sha256: string; version: string } }).policy;
  const signedRef = await status();

  // On reload too: an edit that is not signed is refused, the signed policy stays in force.
  const edited = text.replace('version: "2026.11.1"', 'version: "2026.11.3-unsigned"');
  writeFileSync(`${policyFile}.tmp`, edited);
  renameSync(`${policyFile}.tmp`, policyFile);
  s.proc.kill('SIGHUP');
  await waitFor(() => /policy change refused|policy reload failed/.test(s.output()), { what: 'the unsigned edit refused', timeoutMs: 5000 });
  t.same(await status(), signedRef, 'an unsigned edit is refused on reload; the last good (signed) policy stays');
  // Signed again, the edit is taken.
  t.equal(runCli(['policy', 'sign', '--key', join(sdir, 'policy-keys', 'policy-signing.key'), policyFile], { cwd: sdir }).code, 0);
  s.proc.kill('SIGHUP');
  const next = await waitFor(async () => {
    const p = await status();
    return p.sha256 !== signedRef.sha256 ? p : undefined;
  }, { what: 'the signed edit active', timeoutMs: 10_000 });
  t.equal(next!.version, '2026.11.3-unsigned', 'once signed, the edit is in force');
});
