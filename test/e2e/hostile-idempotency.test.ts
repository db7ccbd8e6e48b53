/**
 * Idempotency keys as a sender would abuse them, through the real gateway (a child process,
 * real HTTP and MLLP sockets). A key is scoped by (source, protocol, key) and bound to a hash
 * of the request: one protocol's key never answers for the other's message, a reused key with
 * another body is refused by name (422 over HTTP, AR over MLLP), and nothing answers 500.
 */
import t from 'tap';
import { join } from 'node:path';
import { prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitFor } from '../helpers/processes.js';
import { post } from '../helpers/http.js';
import { sendOnce } from '../fixtures/hl7v2/mllp-client.js';
import { loadHl7, withControlId } from '../fixtures/hl7v2/load.js';

const field = (ack: string, segment: string, n: number) => ack.split('\r').find((s) => s.startsWith(segment + '|'))?.split('|')[segment === 'MSH' ? n - 1 : n];
const mshField = (msg: string, n: number) => msg.split('\r')[0]!.split('|')[n - 1];

/** The CNIC patient of the HL7 v2 fixtures; she has a treatment consent on file (below). */
const CNIC = { system: 'urn:oid:2.16.586.1.1', value: '35202-1234567-1' };
const observation = (value: number) => ({
  resourceType: 'Observation',
  status: 'final',
  subject: { identifier: CNIC },
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

const dir = t.testdir();
const { ports } = await prepareDir(dir, (c) => {
  c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 3600000 };
});
const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
const gw = await startGatewayProcess(dir);
t.teardown(async () => {
  await gw.kill();
  await sim.kill();
});

// Registered before the consent (so denied, never delivered): the gateway learns her age, since
// an unknown age is read as a minor's and this consent is not a guardian's.
const registered = await post(ports.lan, '/fhir/Patient', { resourceType: 'Patient', identifier: [CNIC], birthDate: '1985-02-11' });
if (registered.status !== 202) throw new Error(`patient not accepted: ${registered.text.slice(0, 200)}`);
const consent = await post(ports.lan, '/fhir/Consent', {
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { identifier: CNIC },
  dateTime: '2026-01-01T00:00:00+05:00',
  provision: {
    type: 'permit',
    period: { start: '2020-01-01T00:00:00+05:00', end: '2030-12-31T23:59:59+05:00' },
    actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/national-telemed' } }],
    purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }],
  },
});
if (consent.status !== 201) throw new Error(`consent not stored: ${consent.text.slice(0, 200)}`);

const ORU = loadHl7('oru-r01-lab-a.hl7');
const app = mshField(ORU, 3);
const facility = mshField(ORU, 4);

t.test('finding 9a: an HTTP key shaped like an MLLP key does not swallow the later MLLP message', async (t) => {
  const oru = withControlId(ORU, 'IDEM-CTRL2');
  const http = await post(ports.lan, '/fhir/Observation', observation(71), { 'idempotency-key': `hl7v2|${app}|${facility}|IDEM-CTRL2` });
  t.equal(http.status, 202, `the HTTP post is accepted: ${http.text.slice(0, 200)}`);
  const [ack] = await sendOnce(ports.mllp, oru);
  t.match(field(ack!, 'MSA', 1), /^(AA|CA)$/, 'the MLLP message is acknowledged');
  t.notMatch(ack!, new RegExp(http.body.id), 'and its ACK is not the HTTP answer');
  // Stored: the gateway knows it as a message of its own (its status lists it under its own id).
  const ids = await waitFor(async () => {
    const r = await simReceived(ports.sim);
    return r.count >= 2 ? r.ids : undefined;
  }, { what: 'both messages delivered' });
  t.ok(ids.includes(http.body.id), 'the HTTP message was delivered');
  t.equal(ids.length, 2, 'and the MLLP message too: two distinct messages');
});

t.test('finding 9b: an HTTP key equal to a stored MLLP key answers 202, never 500', async (t) => {
  const oru = withControlId(ORU, 'IDEM-CTRL3');
  const [ack] = await sendOnce(ports.mllp, oru);
  t.match(field(ack!, 'MSA', 1), /^(AA|CA)$/);
  const http = await post(ports.lan, '/fhir/Observation', observation(72), { 'idempotency-key': `hl7v2|${app}|${facility}|IDEM-CTRL3` });
  t.equal(http.status, 202, `a fresh FHIR message, not another protocol's stored ACK: ${http.text.slice(0, 200)}`);
  t.type(http.body.id, 'string');
});

t.test('finding 9c: the same key with a different body answers 422 naming the conflict; the same body gets the first answer', async (t) => {
  const first = await post(ports.lan, '/fhir/Observation', observation(80), { 'idempotency-key': 'idem-body-1' });
  t.equal(first.status, 202);
  const same = await post(ports.lan, '/fhir/Observation', observation(80), { 'idempotency-key': 'idem-body-1' });
  t.equal(same.status, 202, 'a true retry');
  t.equal(same.body.id, first.body.id, 'gets the first answer');
  const other = await post(ports.lan, '/fhir/Observation', observation(81), { 'idempotency-key': 'idem-body-1' });
  t.equal(other.status, 422, 'another body under the same key is refused');
  t.equal(other.body.resourceType, 'OperationOutcome');
  t.match(JSON.stringify(other.body), /Idempotency-Key was already used with a different request/);
  t.equal(other.body.issue[0].code, 'conflict');
});

t.test('finding 9c over MLLP: the same control id with different content is AR; a true retransmit gets the first ACK', async (t) => {
  const oru = withControlId(ORU, 'IDEM-CTRL4');
  const [ack] = await sendOnce(ports.mllp, oru);
  t.match(field(ack!, 'MSA', 1), /^(AA|CA)$/);
  const [again] = await sendOnce(ports.mllp, oru);
  t.equal(again, ack, 'a retransmit gets the very same ACK');
  const changed = oru.replace(/OBX\|1\|([^|]*)\|([^|]*)\|([^|]*)\|([^|\r]*)/, (_m, a, b, c, v) => `OBX|1|${a}|${b}|${c}|${v}9`);
  t.not(changed, oru, 'the second message differs in an OBX value');
  const [conflict] = await sendOnce(ports.mllp, changed);
  t.match(field(conflict!, 'MSA', 1), /^(AR|CR)$/, `refused: ${conflict?.replace(/\r/g, ' | ')}`);
  t.match(conflict!, /different request/, 'naming the conflict');
});
