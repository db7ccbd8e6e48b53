/**
 * A patient hidden where a field-by-field reader would not look, through the real gateway
 * (child process, real HTTP), demo config: national-telemed is opt-in, no consent is on
 * file, so each must be denied (each used to be queued and delivered as not identifiable).
 * A second, opt-out destination shows that data whose patient cannot be determined is
 * denied too: there is no patient to look a consent up for, and unknown never permits.
 */
import t, { type Test } from 'tap';
import { prepareDir, startGatewayProcess } from '../helpers/processes.js';
import { post } from '../helpers/http.js';
import { CNIC, b64, hivBundle } from '../classify/helpers.js';
import { packAgreesWithConfig } from '../helpers/pack.js';

const dir = t.testdir();
const { ports } = await prepareDir(dir, (c) => {
  c.destinations.push({ ...c.destinations[0], name: 'district-clinic', organization: 'district-clinic', consentModel: 'opt-out' });
  c.routes[0].destinations.push('district-clinic');
});
packAgreesWithConfig(dir); // the test's own pack declares the destinations its config adds
const gw = await startGatewayProcess(dir);
t.teardown(() => gw.kill());

const outcome = (answer: any, name: string) => answer.destinations.find((d: { name: string }) => d.name === name);

async function expectDenied(t: Test, path: string, body: unknown, what: string) {
  const r = await post(ports.lan, path, body);
  t.equal(r.status, 202, `${what}: accepted for a decision (${r.text.slice(0, 200)})`);
  const d = outcome(r.body, 'national-telemed');
  t.equal(d?.decision, 'denied', `${what}: denied for national-telemed (${d?.reasons?.join(' | ')})`);
  const status = await fetch(`http://127.0.0.1:${ports.lan}/messages/${r.body.id}`).then((x) => x.json() as Promise<any>);
  t.notOk((status.destinations ?? []).some((x: any) => (x.destination ?? x.name) === 'national-telemed'), `${what}: nothing queued for national-telemed`);
  return r.body;
}

t.test('finding 3: a Person with a CNIC, name, address and phone is identifiable and denied', async (t) => {
  const person = {
    resourceType: 'Person',
    identifier: [{ system: 'http://nadra.gov.pk/cnic', value: CNIC }],
    name: [{ text: 'Ali Khan' }],
    address: [{ city: 'Lahore' }],
    telecom: [{ system: 'phone', value: '+92 300 1234567' }],
  };
  await expectDenied(t, '/fhir/Person', person, 'Person');
});

t.test('finding 4: a Binary whose base64 data is the Patient + HIV Bundle is read and denied', async (t) => {
  await expectDenied(t, '/fhir/Binary', { resourceType: 'Binary', contentType: 'application/fhir+json', data: b64(hivBundle()) }, 'Binary');
});

t.test('finding 5: an HIV-test Observation whose subject is only a display with a name and CNIC is denied', async (t) => {
  const obs = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '80203-3' }] },
    subject: { display: `Ali Khan, CNIC ${CNIC}` },
  };
  await expectDenied(t, '/fhir/Observation', obs, 'display-only subject');
});

t.test('clinical data whose patient cannot be determined is denied even where consent is opt-out', async (t) => {
  const obs = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '80203-3' }] } };
  const answer = await expectDenied(t, '/fhir/Observation', obs, 'no subject');
  const optOut = outcome(answer, 'district-clinic');
  t.equal(optOut?.decision, 'denied', 'the opt-out destination is denied too');
  t.match(optOut.reasons.join(' '), /no patient can be determined/, 'because there is no patient to look a consent up for');
  t.notMatch(JSON.stringify(answer), /80203-3/, 'the answer carries no content');
});

t.test('control: the opt-out destination does take data whose patient is known', async (t) => {
  const r = await post(ports.lan, '/fhir/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'pulse' }, subject: { reference: 'Patient/known-1' } });
  t.equal(r.status, 202);
  t.equal(outcome(r.body, 'district-clinic')?.decision, 'queued', outcome(r.body, 'district-clinic')?.reasons.join(' | '));
});
