/**
 * A sender cannot make data look safer than it is, through the real gateway (a child
 * process, real HTTP on loopback), demo config: national-telemed is opt-in and no consent
 * is on file, so identifiable data must be denied. Each of these used to be queued and
 * delivered because the sender's own label or wrapping was believed.
 */
import t, { type Test } from 'tap';
import { prepareDir, startGatewayProcess } from '../helpers/processes.js';
import { post } from '../helpers/http.js';
import { CONF, OBSV, hivBundle } from '../classify/helpers.js';

const dir = t.testdir();
const { ports } = await prepareDir(dir);
const gw = await startGatewayProcess(dir);
t.teardown(() => gw.kill());

const telemed = (answer: any) => answer.destinations.find((d: { name: string }) => d.name === 'national-telemed');

async function expectDenied(t: Test, body: unknown, what: string) {
  const r = await post(ports.lan, '/fhir', body);
  t.equal(r.status, 202, `${what}: accepted for a decision (${r.text.slice(0, 200)})`);
  const d = telemed(r.body);
  t.equal(d?.decision, 'denied', `${what}: denied for national-telemed`);
  t.ok(d.reasons.length > 0, `${what}: with reasons (${d.reasons.join(' | ')})`);
  const status = await fetch(`http://127.0.0.1:${ports.lan}/messages/${r.body.id}`).then((x) => x.json() as Promise<any>);
  t.same(status.destinations ?? [], [], `${what}: nothing was queued`);
  return d;
}

t.test('finding 1: a Patient with a CNIC and an HIV Condition labelled L by the sender is denied', async (t) => {
  const d = await expectDenied(t, hivBundle({ meta: { security: [{ system: CONF, code: 'L' }] } }), 'label L');
  t.match(d.reasons.join(' '), /consent/i, 'consent is what is missing');
});

t.test('finding 1: the same Bundle labelled ANONYED (claimed anonymised) is denied', async (t) => {
  await expectDenied(t, hivBundle({ meta: { security: [{ system: OBSV, code: 'ANONYED' }] } }), 'label ANONYED');
});

t.test('finding 2: the same Bundle nested inside a collection Bundle is denied', async (t) => {
  const inner = hivBundle({ meta: { security: [{ system: CONF, code: 'L' }] } });
  await expectDenied(t, { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:inner', resource: inner }] }, 'nested bundle');
});
