/**
 * Structure a sender cannot use to get past the gateway, through the real gateway process
 * (real HTTP on loopback): elements outside FHIR R4 are refused naming the path, while
 * extensions are accepted; an empty message Bundle is a 422 (it was a 500); a transaction
 * the policy rejects leaves audit entries; an 8 MB deeply nested body is refused from its
 * bytes before parsing, and the gateway keeps answering meanwhile.
 */
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { prepareDir, startGatewayProcess } from '../helpers/processes.js';
import { post } from '../helpers/http.js';

const dir = t.testdir();
const { ports } = await prepareDir(dir);
const gw = await startGatewayProcess(dir);
t.teardown(() => gw.kill());

const obs = (extra: Record<string, unknown> = {}) => ({ resourceType: 'Observation', status: 'final', code: { text: 'pulse' }, subject: { reference: 'Patient/s-1' }, ...extra });
const expressions = (body: any): string[] => body.issue.flatMap((i: { expression?: string[] }) => i.expression ?? []);

t.test('an element FHIR R4 does not define is refused with 422 naming its path', async (t) => {
  const r = await post(ports.lan, '/fhir/Observation', obs({ hospitalPatientName: 'Ali Khan' }));
  t.equal(r.status, 422, r.text);
  t.equal(r.body.resourceType, 'OperationOutcome');
  t.ok(expressions(r.body).includes('Observation.hospitalPatientName'), `names the path (${expressions(r.body)})`);
  t.notMatch(r.text, /Ali Khan/, 'and never the value');
});

t.test('an unknown element inside a Bundle entry is refused naming the entry path', async (t) => {
  const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: obs() }, { resource: obs({ valueString: 'ok', secretNote: 'x' }) }] };
  const r = await post(ports.lan, '/fhir', bundle);
  t.equal(r.status, 422, r.text);
  t.ok(expressions(r.body).includes('Bundle.entry[1].resource.secretNote'), `names the path (${expressions(r.body)})`);
});

t.test('extensions are FHIR: accepted, and their content is classified like any other', async (t) => {
  const r = await post(ports.lan, '/fhir/Observation', obs({ extension: [{ url: 'http://hospital.example.pk/fhir/ext/ward-note', valueString: 'bed 4' }] }));
  t.equal(r.status, 202, r.text);
  t.equal(r.body.destinations[0].name, 'national-telemed');
});

t.test('finding 11: a message Bundle with entry: [] answers 422, not 500', async (t) => {
  const r = await post(ports.lan, '/fhir', { resourceType: 'Bundle', type: 'message', entry: [] });
  t.equal(r.status, 422, r.text);
  t.match(r.text, /MessageHeader/);
});

t.test('finding 11: a transaction the policy rejects (422) leaves a decided/deny audit entry per destination', async (t) => {
  const unknownLabel = { system: 'http://unknown.example/labels', code: 'SECRET' };
  const tx = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: obs(), request: { method: 'POST', url: 'Observation' } },
      { resource: obs({ meta: { security: [unknownLabel] } }), request: { method: 'POST', url: 'Observation' } },
    ],
  };
  const r = await post(ports.lan, '/fhir', tx);
  t.equal(r.status, 422, r.text);
  t.ok(expressions(r.body).includes('Bundle.entry[1]'), 'the entry at fault is named');
  const db = new Database(join(dir, 'data', 'darwaza.db'), { readonly: true, fileMustExist: true });
  t.teardown(() => db.close());
  const rows = (db.prepare("SELECT destination, entry FROM audit_entries WHERE event = 'decided'").all() as { destination: string; entry: string }[]).map((x) => ({ destination: x.destination, ...JSON.parse(x.entry) }));
  const rejected = rows.filter((e) => /^transaction rejected/.test(e.reason ?? ''));
  t.equal(rejected.length, 1, 'one entry for the one destination');
  t.equal(rejected[0]?.destination, 'national-telemed');
  t.equal(rejected[0]?.decision, 'deny');
  t.match(rejected[0]?.reason, /unknown-label-denied|label/, `with the reason (${rejected[0]?.reason})`);
});

t.test('finding 11: an 8 MB deeply nested body is refused before parsing; /healthz answers meanwhile', async (t) => {
  const n = 4 * 1024 * 1024 - 64;
  const body = `{"resourceType":"Bundle","type":"collection","x":${'['.repeat(n)}${']'.repeat(n)}}`;
  t.ok(body.length > 8_000_000, `${(body.length / 1e6).toFixed(1)} MB`);
  const refused = post(ports.lan, '/fhir', body);
  // While the body is being sent and refused, the admin port keeps answering.
  const health = await Promise.all([0, 50, 100, 200].map((ms) => new Promise((r) => setTimeout(r, ms)).then(() => fetch(`http://127.0.0.1:${ports.admin}/healthz`).then((x) => x.status))));
  t.same(health, [200, 200, 200, 200], 'the admin /healthz answered during the upload');
  const r = await refused;
  t.ok(r.status === 400 || r.status === 422, `refused (${r.status})`);
  t.match(r.text, /limits\.maxDepth/, 'naming the limit');
  t.equal((await fetch(`http://127.0.0.1:${ports.admin}/healthz`)).status, 200, 'and after');
  const ok = await post(ports.lan, '/fhir/Observation', obs());
  t.equal(ok.status, 202, 'the LAN API still takes ordinary messages');
});
