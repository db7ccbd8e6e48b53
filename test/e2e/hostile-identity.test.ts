/**
 * A sender cannot borrow another patient's consent through a weak identifier. The gateway
 * runs in this process on loopback (real HTTP, real SQLite); the destination is opt-in, so
 * a message is queued only when a consent for its patient is found.
 */
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../../src/gateway/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { createLogger } from '../../src/log/index.js';
import { testConfig } from '../helpers/config.js';
import { freePort } from '../helpers/net.js';
import { REPO } from '../helpers/processes.js';

const DEST = 'national-telemed';
const CNIC_SYSTEM = 'http://nadra.gov.pk/cnic';

const quiet = () => createLogger({ level: 'fatal', destination: new Writable({ write: (_c, _e, done) => done() }) });

async function postJson(port: number, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as any };
}

const consent = (patient: object) => ({
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient,
  dateTime: '2026-01-01',
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
  provision: { type: 'permit', period: { start: '2026-01-01' } },
});

/** An adult's birth date, given unless a test sets birthDate itself (undefined: leave it out). */
const ADULT_BIRTH = '1980-05-01';

function bundle(patient: Record<string, unknown>, i: number) {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, resource: { resourceType: 'Patient', gender: 'female', birthDate: ADULT_BIRTH, ...patient } },
      {
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
          subject: { reference: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
          effectiveDateTime: '2026-03-01T08:00:00+05:00',
          valueQuantity: { value: 70 + i, unit: '/min' },
        },
      },
    ],
  };
}

async function setup(t: Test): Promise<RunningGateway> {
  const dir = t.testdir();
  const simPort = await freePort();
  const config = testConfig((c) => {
    c.dataDir = join(dir, 'data');
    c.certsDir = join(dir, 'certs');
    c.listen = { lan: '127.0.0.1:0', admin: '127.0.0.1:0', mllp: '127.0.0.1:0' };
    c.simulator = { embedded: false, listen: `127.0.0.1:${simPort}` };
    c.policy.path = join(REPO, 'policies', 'pk');
    c.policy.profilesDir = join(REPO, 'policies', 'profiles');
    c.destinations[0].url = `http://127.0.0.1:${simPort}/ingest`;
    // Loopback here stands for an integration engine relaying several hospital systems, each
    // named by X-Source-System (honoured only with the integration-engine grant).
    c.access = { ...c.access, loopback: { roles: ['sender', 'consent-writer', 'consent-reader'], grants: ['integration-engine'] } };
  }, dir);
  const keys = await loadOrCreateKeyStore(config.certsDir);
  keys.ensureKekFile();
  keys.demoRecipient(DEST);
  const gw = await startGateway(config, { logger: quiet(), simulator: false });
  t.teardown(() => gw.stop());
  return gw;
}

const decision = (r: { body: any }) => r.body.destinations?.find((d: any) => d.name === DEST)?.decision;
let n = 0;

t.test('hostile identities', async (t) => {
  const gw = await setup(t);
  const send = (patient: Record<string, unknown>, headers?: Record<string, string>) => postJson(gw.lanPort, '/fhir', bundle(patient, ++n), headers);

  await t.test('finding 10: a consent for Patient/123 does not follow "123" to a patient whose CNIC differs', async (t) => {
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', consent({ reference: 'Patient/123' }))).status, 201);
    const first = await send({ id: '123', identifier: [{ system: CNIC_SYSTEM, value: '35202-0000001-1' }] });
    t.equal(decision(first), 'queued', 'the first patient seen as 123 (CNIC A) is the one the consent was filed for');
    const other = await send({ id: '123', identifier: [{ system: CNIC_SYSTEM, value: '35202-0000002-2' }] });
    t.equal(decision(other), 'denied', 'a Patient 123 with CNIC B does not inherit it');
  });

  await t.test('a consent naming CNIC A (and 124) does not reach Patient 124 carrying CNIC B', async (t) => {
    const c = consent({ reference: 'Patient/124', identifier: { system: CNIC_SYSTEM, value: '35202-0000003-3' } });
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', c)).status, 201);
    t.equal(decision(await send({ id: '124', identifier: [{ system: CNIC_SYSTEM, value: '35202-0000004-4' }] })), 'denied');
    t.equal(decision(await send({ id: '124', identifier: [{ system: CNIC_SYSTEM, value: '35202-0000003-3' }] })), 'queued', 'the right patient still gets it');
    t.equal(decision(await send({ id: '124' })), 'queued', 'and so does 124 without a CNIC: the gateway knows whom 124 is here');
  });

  await t.test('a bare local id means something only at its source', async (t) => {
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', consent({ reference: 'Patient/200' }), { 'x-source-system': 'his-a' })).status, 201);
    t.equal(decision(await send({ id: '200' }, { 'x-source-system': 'his-b' })), 'denied', 'another source\'s "200" is someone else');
    t.equal(decision(await send({ id: '200' }, { 'x-source-system': 'his-a' })), 'queued', 'the same source\'s "200" gets it');
  });

  await t.test('an MRN without a system is namespaced by its source too', async (t) => {
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', consent({ identifier: { value: 'MRN-77' } }), { 'x-source-system': 'his-a' })).status, 201);
    t.equal(decision(await send({ identifier: [{ value: 'MRN-77' }] }, { 'x-source-system': 'his-b' })), 'denied');
    t.equal(decision(await send({ identifier: [{ value: 'MRN-77' }] }, { 'x-source-system': 'his-a' })), 'queued');
  });

  await t.test('consent for CNIC A; a Patient with CNIC A in one identifier and CNIC B in another: denied', async (t) => {
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', consent({ identifier: { system: CNIC_SYSTEM, value: '35202-0000005-5' } }))).status, 201);
    t.equal(decision(await send({ identifier: [{ system: CNIC_SYSTEM, value: '35202-0000005-5' }] })), 'queued', 'control: CNIC A alone');
    const both = await send({ identifier: [{ system: CNIC_SYSTEM, value: '35202-0000005-5' }, { system: 'urn:oid:2.16.586.1.1', value: '35202-0000006-6' }] });
    t.equal(decision(both), 'denied');
    t.match(JSON.stringify(both.body), /more than one CNIC/);
    t.notMatch(JSON.stringify(both.body), /35202/, 'the reason names no CNIC');
  });

  await t.test('the gateway remembers a birth date: a later message without one is judged by the age it knows', async (t) => {
    // A 10-year-old's consent without a guardian cannot permit, with or without the birth date in the message.
    const child = { system: CNIC_SYSTEM, value: '35202-0000007-7' };
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', consent({ identifier: child }))).status, 201);
    t.equal(decision(await send({ identifier: [child], birthDate: '2016-01-01' })), 'denied', 'with the birth date: a minor without a guardian performer');
    t.equal(decision(await send({ identifier: [child], birthDate: undefined })), 'denied', 'without it: still a minor');
    // An adult seen once with a birth date is an adult in a later message without one.
    const adult = { system: CNIC_SYSTEM, value: '35202-0000008-8' };
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', consent({ identifier: adult }))).status, 201);
    t.equal(decision(await send({ identifier: [adult], birthDate: '1975-03-03' })), 'queued', 'with the birth date: an adult');
    t.equal(decision(await send({ identifier: [adult], birthDate: undefined })), 'queued', 'without it: the remembered age applies');
    const bytes = gw.db.prepare('SELECT value FROM patient_memory').all() as { value: Uint8Array }[];
    t.ok(bytes.length > 0, 'something is remembered');
    t.notOk(bytes.some((b) => Buffer.from(b.value).toString('latin1').includes('2016-01-01') || Buffer.from(b.value).toString('latin1').includes('1975-03-03')), 'birth dates are encrypted at rest');
  });

  await t.test('finding 11: a patient never seen with a birth date is judged as a minor: a self-given consent does not release the data', async (t) => {
    const stranger = { system: CNIC_SYSTEM, value: '35202-0000009-9' };
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', consent({ identifier: stranger }))).status, 201);
    const r = await send({ identifier: [stranger], birthDate: undefined });
    t.equal(decision(r), 'denied', 'unknown age: consent as for a minor');
    const reasons: string[] = r.body.destinations.find((d: any) => d.name === DEST).reasons;
    t.match(reasons.join(' '), /age is unknown/, `the reason says so: ${reasons.join(' | ')}`);
    t.notMatch(reasons.join(' '), /35202/, 'without the CNIC');
  });
});
