/**
 * HL7 v2 through the real gateway (issue 8): ADT and ORU over MLLP are acknowledged
 * only after the commit, mapped to FHIR, consent- and policy-checked like FHIR input,
 * delivered sealed; a SIGKILL right after the AA loses nothing, and a retransmit after
 * the restart gets the same ACK and no second delivery.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitFor } from '../helpers/processes.js';
import { sendOnce } from '../fixtures/hl7v2/mllp-client.js';
import { sleep } from '../helpers/net.js';

const fixture = (name: string) => readFileSync(join(REPO, 'test/fixtures/hl7v2', name), 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '');
const field = (ack: string, segment: string, n: number) => ack.split('\r').find((s) => s.startsWith(segment + '|'))?.split('|')[segment === 'MSH' ? n - 1 : n];
const withControlId = (msg: string, id: string) => msg.replace(/^(MSH(?:\|[^|]*){8}\|)[^|]*/, `$1${id}`);

/** A consent for the CNIC patient of the fixtures, by identifier (what an HL7 feed knows). */
const cnicConsent = {
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { identifier: { system: 'urn:oid:2.16.586.1.1', value: '35202-1234567-1' } },
  dateTime: '2026-01-01T00:00:00+05:00',
  provision: {
    type: 'permit',
    period: { start: '2020-01-01T00:00:00+05:00', end: '2030-12-31T23:59:59+05:00' },
    actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/national-telemed' } }],
    purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }],
  },
};

t.test('ADT and ORU over MLLP through the gateway: commit ACKs, delivery, retransmits, SIGKILL after AA', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 3600000 };
  });
  let sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  let gw = await startGatewayProcess(dir);
  t.teardown(async () => {
    await gw.kill();
    await sim.kill();
  });
  const consent = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(cnicConsent) });
  t.equal(consent.status, 201, 'a consent by CNIC identifier');

  // ADT^A01 for a Pakistani patient (CNIC in PID-3, Urdu name).
  const adt = fixture('adt-a01-pk-cnic.hl7');
  const [ack] = await sendOnce(ports.mllp, adt);
  t.ok(ack, 'an ACK came back');
  t.equal(field(ack, 'MSA', 1), 'CA', 'enhanced mode (MSH-15 AL): commit accept');
  t.equal(field(ack, 'MSA', 2), 'SHIFA-000101', 'MSA-2 echoes MSH-10');
  t.equal(field(ack, 'MSH', 9), 'ACK^A01^ACK');
  const first = await waitFor(async () => ((await simReceived(ports.sim)).count === 1 ? simReceived(ports.sim) : undefined), { what: 'the ADT delivered' });
  const [again] = await sendOnce(ports.mllp, adt);
  t.equal(again, ack, 'a retransmit gets the very same ACK');
  await sleep(800);
  t.same((await simReceived(ports.sim)).ids, first.ids, 'and no second message upstream');

  // An unknown message type that no route carries as opaque v2: AR.
  const [dft] = await sendOnce(ports.mllp, fixture('dft-p03.hl7'));
  t.match(field(dft, 'MSA', 1) ?? '', /^(AR|CR)$/, 'an unmapped type is rejected');

  // The uplink goes down; an ORU is acknowledged (AA after the commit), then the gateway is SIGKILLed.
  await sim.kill();
  const oru = withControlId(fixture('oru-r01-lab-a.hl7'), 'CL-KILL-1');
  const [aa] = await sendOnce(ports.mllp, oru);
  t.equal(field(aa, 'MSA', 1), 'AA', 'original mode: AA');
  t.equal(field(aa, 'MSA', 2), 'CL-KILL-1');
  await gw.kill('SIGKILL');

  gw = await startGatewayProcess(dir);
  sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  const got = await waitFor(async () => {
    const r = await simReceived(ports.sim);
    return r.count >= 1 ? r : undefined;
  }, { timeoutMs: 30_000, what: 'the ORU delivered after the restart' });
  t.equal(got.count, 1, 'the acknowledged ORU arrived after the SIGKILL (the new simulator saw only it)');
  const [replayed] = await sendOnce(ports.mllp, oru);
  t.equal(replayed, aa, 'a retransmit after the restart yields the same ACK');
  await sleep(800);
  t.equal((await simReceived(ports.sim)).count, 1, 'and no duplicate upstream');
});
