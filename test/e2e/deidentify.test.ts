/**
 * Issue 4's acceptance through the real gateway (child processes, real sockets): what a
 * research or AI-service destination receives (purpose HRESCH, pk policy → sanitize
 * pk-research), in Pakistan or abroad, is de-identified — no identifying value of the input
 * (the leak scanner of test/fixtures/pk-patients), a Provenance citing the profile's hash,
 * the de-identification labels (confidentiality L + ANONYED), clinical codes and values kept —
 * while a treatment destination (TREAT, with consent) still receives identifiable data.
 * Pseudonyms are HMACs under the destination's own key from certs/deid; a missing profile
 * and an HL7 v2 research destination fail closed (0 bytes); `darwaza sanitize
 * --key-from-config` reproduces what the gateway sent.
 *
 * Research destinations are stand-in upstreams that keep the raw bytes (test/helpers/capture.ts);
 * the test opens the envelopes itself with the demo recipient keys in certs/.
 */
import t from 'tap';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, REPO, prepareDir, runCli, startGatewayProcess, waitDelivered } from '../helpers/processes.js';
import { packAgreesWithConfig } from '../helpers/pack.js';
import { freePort, sleep } from '../helpers/net.js';
import { startCaptureServer, type CaptureServer } from '../helpers/capture.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';
import { sendOnce } from '../fixtures/hl7v2/mllp-client.js';
import { leaks } from '../fixtures/pk-patients/leak-scanner.js';
import { consentFor } from '../../bench/fixtures.js';
import { createReceiver, loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { loadProfile } from '../../src/sanitize/index.js';
import { post as postFhir } from '../helpers/http.js';

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
const FAST_RETRY = { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 };
const OBS_VALUE = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';

const ZULFIQAR = JSON.parse(readFileSync(join(REPO, 'test/fixtures/pk-patients/zulfiqar-bundle.json'), 'utf8'));
const ZULFIQAR_ID: string = ZULFIQAR.entry.find((e: any) => e.resource.resourceType === 'Patient').resource.id;
const SYNTHEA_FILE = join(FIXTURES, 'synthea-r4', 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json');
const CAROLEE = JSON.parse(readFileSync(SYNTHEA_FILE, 'utf8'));
const CAROLEE_ID: string = CAROLEE.entry.find((e: any) => e.resource.resourceType === 'Patient').resource.id;

function destination(name: string, port: number, country: string) {
  return {
    name,
    url: `http://127.0.0.1:${port}/ingest`,
    country,
    kind: 'research',
    organization: name,
    format: 'fhir',
    consentModel: 'opt-in',
    timeoutMs: 5000,
    concurrency: 2,
    retry: FAST_RETRY,
  };
}

const post = (port: number, path: string, body: unknown, purpose?: string) => postFhir(port, path, body, purpose ? { 'x-purpose-of-use': purpose } : {});

const outcomeFor = (answer: any, name: string) => answer.destinations.find((d: { name: string }) => d.name === name);

/** Opens what a capture server received for one destination, by message id (the Idempotency-Key). */
async function opener(dir: string, name: string) {
  const keys = await loadOrCreateKeyStore(join(dir, 'certs'));
  const receiver = await createReceiver({ recipientKeys: [keys.demoRecipient(name)], trustedGatewayKeys: keys.trustedGatewayKeys() });
  const opened = new Map<string, any>();
  return (capture: CaptureServer, id: string): any => {
    if (opened.has(id)) return opened.get(id);
    const c = capture.captured.find((x) => x.headers['idempotency-key'] === id);
    if (!c) throw new Error(`${name}: message ${id} was not captured`);
    const r = receiver.open(c.body);
    if (!r.ok) throw new Error(`${name}: envelope did not open: ${r.reason}`);
    if (!r.sealed) throw new Error(`${name}: envelope was not sealed`);
    const resource = JSON.parse(Buffer.from(r.payload).toString('utf8'));
    opened.set(id, resource);
    return resource;
  };
}

const entriesOf = (bundle: any, type: string) => (bundle.entry ?? []).map((e: any) => e.resource).filter((r: any) => r?.resourceType === type);
const codesOf = (bundle: any, type: string) =>
  entriesOf(bundle, type)
    .flatMap((r: any) => r.code?.coding ?? [])
    .map((c: any) => `${c.system}|${c.code}`)
    .sort();
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const confidentiality = (r: any): string[] => (r?.meta?.security ?? []).filter((c: any) => c.system === CONFIDENTIALITY).map((c: any) => c.code);
const hmac = (key: string, value: string) => createHmac('sha256', Buffer.from(key, 'utf8')).update(value, 'utf8').digest('hex');
const deidKeys = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, 'certs', 'deid', `${name}.json`), 'utf8'));

// One gateway for tests 1, 2 and 4: national-telemed (PK, treatment; TREAT), and two research
// destinations for HRESCH — one in Pakistan, one abroad — each with its own capture.
const dir = t.testdir();
const pkResearchPort = await freePort();
const deResearchPort = await freePort();
const aiPort = await freePort();
const v2ResearchPort = await freePort();
const { ports } = await prepareDir(dir, (c) => {
  c.destinations[0].retry = FAST_RETRY;
  c.destinations.push(destination('research-registry', pkResearchPort, 'PK'), destination('research-abroad', deResearchPort, 'DE'));
  c.destinations.push({ ...destination('ai-triage', aiPort, 'US'), kind: 'ai-service' });
  c.destinations.push({ ...destination('research-v2', v2ResearchPort, 'PK'), format: 'hl7v2' });
  c.routes.push({ name: 'research', match: { purpose: ['HRESCH'] }, destinations: ['research-registry', 'research-abroad', 'ai-triage'] });
  c.routes.push({ name: 'v2-research', match: { format: ['hl7v2'] }, destinations: ['research-v2'] });
});
packAgreesWithConfig(dir); // the test's pack declares the research and AI destinations as its config does
const national = await startRecordingSimulator(join(dir, 'certs'), ports.sim);
const pkResearch = await startCaptureServer(pkResearchPort);
const deResearch = await startCaptureServer(deResearchPort);
const aiCapture = await startCaptureServer(aiPort);
const v2Research = await startCaptureServer(v2ResearchPort);
const gw = await startGatewayProcess(dir);
t.teardown(async () => {
  await gw.kill();
  await national.stop();
  await pkResearch.stop();
  await deResearch.stop();
  await aiCapture.stop();
  await v2Research.stop();
});
const lan = ports.lan;
const openPk = await opener(dir, 'research-registry');
const openDe = await opener(dir, 'research-abroad');
const openAi = await opener(dir, 'ai-triage');
const profile = await loadProfile(join(dir, 'policies', 'profiles', 'pk-research.yaml'));

/** Ids of the HRESCH posts of Zulfiqar's bundle, for tests 2 and 4. */
const zulfiqarResearch: string[] = [];

t.test('research destinations in Pakistan and abroad, and an AI service abroad, receive only de-identified data; the treatment destination still receives identities', async (t) => {
  t.equal((await post(lan, '/fhir/Consent', consentFor(ZULFIQAR_ID))).status, 201, 'Zulfiqar consents to treatment disclosures');
  t.equal((await post(lan, '/fhir/Consent', consentFor(CAROLEE_ID))).status, 201, 'Carolee too');

  for (const [label, input] of [
    ['Zulfiqar (hand-made Pakistani patient)', ZULFIQAR],
    ['Carolee (Synthea)', CAROLEE],
  ] as const) {
    // Treatment: identifiable, as sent.
    const treat = await post(lan, '/fhir', input, 'TREAT');
    t.equal(treat.status, 202, `${label} TREAT: ${treat.text.slice(0, 300)}`);
    t.equal(outcomeFor(treat.body, 'national-telemed')?.decision, 'queued', `${label}: TREAT goes to national-telemed (${JSON.stringify(outcomeFor(treat.body, 'national-telemed')?.reasons)})`);
    t.notOk(outcomeFor(treat.body, 'research-registry'), `${label}: TREAT is not routed to research`);

    // Research: de-identified, to both.
    const research = await post(lan, '/fhir', input, 'HRESCH');
    t.equal(research.status, 202, `${label} HRESCH: ${research.text.slice(0, 300)}`);
    for (const name of ['research-registry', 'research-abroad', 'ai-triage']) {
      const o = outcomeFor(research.body, name);
      t.equal(o?.decision, 'queued', `${label}: ${name} is permitted (${JSON.stringify(o?.reasons)})`);
      t.ok(o?.ruleIds.includes('research-and-ai-get-deidentified-data'), `${label}: by the research rule (${o?.ruleIds})`);
      t.notOk(o?.consent, `${label}: de-identified data needs no consent`);
    }
    t.notOk(outcomeFor(research.body, 'national-telemed'), `${label}: HRESCH is not routed to treatment`);
    if (input === ZULFIQAR) zulfiqarResearch.push(research.body.id);

    await waitDelivered(lan, treat.body.id);
    await waitDelivered(lan, research.body.id);

    const identified = JSON.parse(national.opened.get(treat.body.id)!.payload);
    const patient = entriesOf(identified, 'Patient')[0];
    const name = entriesOf(input, 'Patient')[0].name[0];
    t.same(patient.name[0].family, name.family, `${label}: the treatment service got the Patient's family name (the test is honest)`);
    t.ok(leaks(input, identified).leaked.length > 10, `${label}: the leak scanner finds identities in the treatment payload`);
    t.notSame(confidentiality(identified), ['L'], `${label}: and it is not labelled as de-identified (${confidentiality(identified)})`);

    const inputCodes = { Condition: codesOf(input, 'Condition'), Observation: codesOf(input, 'Observation') };
    t.ok(inputCodes.Condition.length > 0 && inputCodes.Observation.length > 0, `${label}: the input has Condition and Observation codes`);
    for (const [name, open, capture] of [
      ['research-registry', openPk, pkResearch],
      ['research-abroad', openDe, deResearch],
      ['ai-triage', openAi, aiCapture],
    ] as const) {
      const out = open(capture, research.body.id);
      const scan = leaks(input, out);
      t.ok(scan.checked > 20, `${label} → ${name}: ${scan.checked} identifying values collected from the input`);
      t.same(scan.leaked, [], `${label} → ${name}: none of them appears in what arrived`);

      const provs = entriesOf(out, 'Provenance').filter((p: any) => (p.policy ?? []).some((u: string) => u.startsWith('urn:darwaza:sanitize-profile:')));
      t.equal(provs.length, 1, `${label} → ${name}: one darwaza Provenance entry`);
      t.same(provs[0]?.policy, [`urn:darwaza:sanitize-profile:pk-research#sha256:${profile.sha256}`], `${label} → ${name}: it names pk-research and its sha256`);
      t.match(profile.sha256, /^[0-9a-f]{64}$/);

      const security = (out.meta?.security ?? []).map((c: any) => c.code);
      for (const code of ['REDACTED', 'CRYTOHASH', 'L', 'ANONYED']) t.ok(security.includes(code), `${label} → ${name}: the bundle's meta.security has ${code} (${security})`);
      t.same(confidentiality(out), ['L'], `${label} → ${name}: its only confidentiality is L, as the policy judged it (not the N of the identifiable input)`);
      const patientOut = entriesOf(out, 'Patient')[0];
      const pSecurity = (patientOut.meta?.security ?? []).map((c: any) => c.code);
      t.ok(['REDACTED', 'CRYTOHASH', 'ANONYED'].every((c) => pSecurity.includes(c)), `${label} → ${name}: so has the Patient's (${pSecurity})`);
      t.same(confidentiality(patientOut), ['L'], `${label} → ${name}: the Patient's confidentiality is L`);
      t.ok(
        (out.entry as any[]).every((e) => confidentiality(e.resource).join() === 'L'),
        `${label} → ${name}: and every entry's`,
      );
      t.ok(
        (provs[0]?.meta?.security ?? []).some((c: any) => c.system === OBS_VALUE && c.code === 'ANONYED'),
        `${label} → ${name}: the Provenance is labelled ANONYED`,
      );
      const nameParts = (patientOut.name ?? []).flatMap((n: any) => [n.family, n.text, ...(n.given ?? []), ...(n.prefix ?? [])]).filter(Boolean);
      t.same(nameParts, [], `${label} → ${name}: no Patient name part (family, given, text, prefix)`);
      t.notOk(patientOut.identifier?.some((i: any) => i.value), `${label} → ${name}: no identifier values`);

      t.same(codesOf(out, 'Condition'), inputCodes.Condition, `${label} → ${name}: every Condition code is kept`);
      t.same(codesOf(out, 'Observation'), inputCodes.Observation, `${label} → ${name}: every Observation code is kept`);
      const values = (b: any) => entriesOf(b, 'Observation').map((o: any) => o.valueQuantity?.value).filter((v: unknown) => v !== undefined);
      t.same(values(out), values(input), `${label} → ${name}: observation values are kept`);
    }
  }
});

t.test('every other Synthea patient, and a 93-year-old Pakistani patient, reach research with no identifying value', async (t) => {
  const files = [
    ...readdirSync(join(FIXTURES, 'synthea-r4')).filter((f) => /^[A-Z].*_[0-9a-f-]{36}\.json$/.test(f) && !f.startsWith('Carolee')).map((f) => join(FIXTURES, 'synthea-r4', f)),
    join(REPO, 'test/fixtures/pk-patients/rukhsana-elderly.json'),
  ];
  t.equal(files.length, 3, 'Luisa, Todd and Rukhsana');
  const sent = await Promise.all(files.map(async (f) => ({ f, input: JSON.parse(readFileSync(f, 'utf8')), r: await post(lan, '/fhir', JSON.parse(readFileSync(f, 'utf8')), 'HRESCH') })));
  for (const { f, input, r } of sent) {
    const label = f.split('/').pop()!.split('_')[0]!;
    t.equal(r.status, 202, `${label}: ${r.text.slice(0, 200)}`);
    t.equal(outcomeFor(r.body, 'research-registry')?.decision, 'queued', `${label}: permitted to research-registry`);
    await waitDelivered(lan, r.body.id);
    const out = openPk(pkResearch, r.body.id);
    const scan = leaks(input, out);
    t.ok(scan.checked > 5, `${label}: ${scan.checked} identifying values collected`);
    t.same(scan.leaked, [], `${label}: none arrives`);
    t.same(codesOf(out, 'Condition'), codesOf(input, 'Condition'), `${label}: Condition codes kept`);
    if (label.startsWith('rukhsana')) {
      const patient = entriesOf(out, 'Patient')[0];
      t.notOk(patient.birthDate, 'a birth date showing an age over 89 is removed, not even the year stays');
      const age = entriesOf(out, 'Condition')[0].onsetAge;
      t.same({ value: age?.value, comparator: age?.comparator }, { value: 90, comparator: '>=' }, 'an onset age of 91 becomes 90+');
      t.notMatch(JSON.stringify(out), /\b93\b/, 'the "93 year-old" in the note is not there');
    }
  }
});

t.test('pseudonyms are HMACs under each destination’s own key from certs/deid: stable across messages, different per destination', async (t) => {
  const again = await post(lan, '/fhir', ZULFIQAR, 'HRESCH');
  t.equal(again.status, 202, again.text.slice(0, 300));
  await waitDelivered(lan, again.body.id);
  zulfiqarResearch.push(again.body.id);
  t.equal(zulfiqarResearch.length, 2, 'Zulfiqar was posted for research twice');

  const pseudonym = (bundle: any) => entriesOf(bundle, 'Patient')[0].id;
  const [first, second] = zulfiqarResearch.map((id) => openPk(pkResearch, id));
  const p1 = pseudonym(first);
  t.match(p1, /^[0-9a-f]{64}$/, 'the Patient id is a 64-hex pseudonym');
  t.not(p1, ZULFIQAR_ID, 'not the original id');
  t.equal(pseudonym(second), p1, 'the same patient posted twice to research-registry gets the same pseudonym');
  const subjects = entriesOf(first, 'Observation').map((o: any) => o.subject.reference);
  t.same(subjects, [`urn:uuid:${p1}`], 'and the Observation still points at it (links kept)');

  const abroad = zulfiqarResearch.map((id) => pseudonym(openDe(deResearch, id)));
  t.equal(abroad[0], abroad[1], 'stable at research-abroad too');
  t.not(abroad[0], p1, 'but a different destination gets a different pseudonym');

  const pkKeys = deidKeys(dir, 'research-registry');
  const deKeys = deidKeys(dir, 'research-abroad');
  t.not(pkKeys.cryptoHashKey, deKeys.cryptoHashKey, 'the key store made a key per destination');
  t.equal(p1, hmac(pkKeys.cryptoHashKey, ZULFIQAR_ID), "research-registry's pseudonym is HMAC-SHA256 under certs/deid/research-registry.json");
  t.equal(abroad[0], hmac(deKeys.cryptoHashKey, ZULFIQAR_ID), "research-abroad's under certs/deid/research-abroad.json");
});

t.test('a single resource (not a Bundle) for research is de-identified too, with the same pseudonym as in a Bundle', async (t) => {
  const patient = entriesOf(ZULFIQAR, 'Patient')[0];
  const r = await post(lan, '/fhir/Patient', patient, 'HRESCH');
  t.equal(r.status, 202, r.text.slice(0, 300));
  t.equal(outcomeFor(r.body, 'research-registry')?.decision, 'queued');
  await waitDelivered(lan, r.body.id);
  const wrapped = openPk(pkResearch, r.body.id);
  t.equal(wrapped.resourceType, 'Bundle', 'a single resource arrives in a collection Bundle with its Provenance');
  t.same(wrapped.entry.map((e: any) => e.resource.resourceType), ['Patient', 'Provenance']);
  t.match(JSON.stringify(wrapped.entry[1].resource), /pk-research#sha256:[0-9a-f]{64}/, 'the Provenance names the profile by hash');
  const out = wrapped.entry[0].resource;
  t.equal(out.resourceType, 'Patient', 'a Patient arrives');
  const scan = leaks(patient, out);
  t.ok(scan.checked > 10, `${scan.checked} identifying values collected from the Patient`);
  t.same(scan.leaked, [], 'none of them arrives (the CNIC, MRN and +92 number in the narrative included)');
  const security = (out.meta?.security ?? []).map((c: any) => c.code);
  t.ok(['REDACTED', 'CRYTOHASH', 'ANONYED'].every((c) => security.includes(c)), `labelled (${security})`);
  t.same(confidentiality(out), ['L'], 'confidentiality L');
  t.equal(out.id, hmac(deidKeys(dir, 'research-registry').cryptoHashKey, ZULFIQAR_ID), 'the pseudonym is the one the Bundle path gives');
  t.equal(out.gender, 'male', 'non-identifying content stays');
  t.equal(out.birthDate, patient.birthDate.slice(0, 4), 'the birth date is cut to the year');
});

t.test('an HL7 v2 research destination gets nothing: pk-research is a FHIR profile, and the v2 form would carry free text and exact dates', async (t) => {
  const cnic = '35202-1234567-1';
  const text = readFileSync(join(REPO, 'test/fixtures/hl7v2/oru-r01-lab-a.hl7'), 'utf8').replace(
    'NTE|1||Reviewed by pathologist',
    `NTE|1||Ayesha Khan CNIC ${cnic} mobile 0300-1234567`,
  );
  t.ok(text.includes(cnic), 'the ORU carries a CNIC in a note');
  const [ack] = await sendOnce(ports.mllp, text);
  t.match(ack, /MSA\|AA\|/, `accepted: ${ack?.replace(/\r/g, ' | ')}`);
  const id = /accepted as ([0-9a-f-]{36})/.exec(ack ?? '')?.[1];
  t.ok(id, 'the ACK names the message id');
  const explain = (await (await fetch(`http://127.0.0.1:${ports.admin}/messages/${id}/explain`)).json()) as any;
  const o = (explain.destinations ?? explain.outcomes ?? []).find((x: any) => x.name === 'research-v2');
  t.equal(o?.decision, 'denied', `research-v2 is denied: ${JSON.stringify(o?.reasons)}`);
  t.match(o?.reasons.join(' '), /pk-research/, 'the reason names the profile');
  await sleep(300); // time for a (wrongly) queued delivery
  t.equal(v2Research.captured.length, 0, 'the v2 research capture received no request, so no byte of the note');
});

t.test('darwaza sanitize --key-from-config prints what the gateway sent to that destination', async (t) => {
  const help = runCli(['sanitize', '--help']);
  t.match(help.stdout + help.stderr, /--key-from-config/, 'the flag exists');
  const file = join(dir, 'zulfiqar.json');
  writeFileSync(file, JSON.stringify(ZULFIQAR));
  const run = (destination: string) =>
    runCli(['sanitize', '--profile', 'pk-research', '--key-from-config', '--config', join(dir, 'gateway.config.json'), '--destination', destination, '--compact', file], { cwd: dir });
  const r = run('research-registry');
  t.equal(r.code, 0, r.stderr);
  const cli = JSON.parse(r.stdout);
  const sent = openPk(pkResearch, zulfiqarResearch[0]!);
  t.equal(entriesOf(cli, 'Patient')[0].id, entriesOf(sent, 'Patient')[0].id, 'the CLI gives the Patient the pseudonym the gateway sent');
  const links = (b: any) => b.entry.filter((e: any) => e.resource.resourceType !== 'Provenance').map((e: any) => [e.fullUrl, e.resource.id]);
  t.same(links(cli), links(sent), 'and every entry the same fullUrl and id');
  const strip = (b: any) => b.entry.filter((e: any) => e.resource.resourceType !== 'Provenance').map((e: any) => ({ ...e.resource, meta: undefined }));
  t.same(strip(cli), strip(sent), 'the entries are equal (but for the labels the policy added in the gateway)');
  t.same(leaks(ZULFIQAR, cli).leaked, [], 'and the CLI output leaks nothing either');

  const other = run('research-abroad');
  t.equal(other.code, 0, other.stderr);
  t.not(entriesOf(JSON.parse(other.stdout), 'Patient')[0].id, entriesOf(cli, 'Patient')[0].id, "another destination's keys give another pseudonym");
  const unknown = run('no-such-destination');
  t.not(unknown.code, 0, 'a destination without keys in certs/deid is refused (keys are never made by the CLI)');
});

t.test('a profile missing from policies/profiles is refused at start: the file and the missing profile are named, nothing listens', async (t) => {
  const dir2 = t.testdir();
  const researchPort = await freePort();
  const { ports: p2 } = await prepareDir(dir2, (c) => {
    c.destinations[0].retry = FAST_RETRY;
    c.destinations.push(destination('research-registry', researchPort, 'PK'));
    c.routes.push({ name: 'research', match: { purpose: ['HRESCH'] }, destinations: ['research-registry'] });
  });
  packAgreesWithConfig(dir2);
  rmSync(join(dir2, 'policies', 'profiles', 'pk-research.yaml'));
  const r = runCli(['start', '--config', join(dir2, 'gateway.config.json'), '--no-simulator'], { cwd: dir2 });
  t.equal(r.code, 3, "start exits with the config error code");
  t.match(r.stderr, /pk-research/, `the refusal names the missing profile: ${r.stderr.slice(0, 300)}`);
  t.match(r.stderr, /pk\.policy\.yaml/, 'and the policy file that names it');
  const refused = await fetch(`http://127.0.0.1:${p2.lan}/healthz`).then(() => 'answered', () => 'refused');
  t.equal(refused, 'refused', 'nothing listens on the LAN port');
});
