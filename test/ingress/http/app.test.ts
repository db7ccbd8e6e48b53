import t from 'tap';
import { createLanApp } from '../../../src/ingress/http/index.js';
import { createPipeline, PASS_THROUGH_STAGES } from '../../../src/pipeline/index.js';
import { memoryStore } from '../../helpers/memory-store.js';
import { testConfig } from '../../helpers/config.js';
import { QuotaExceededError } from '../../../src/fhir/index.js';

function setup(opts: Parameters<typeof memoryStore>[0] = {}, maxBodyBytes = 64 * 1024) {
  const config = testConfig();
  const store = memoryStore(opts);
  const pipeline = createPipeline({ config, store, stages: PASS_THROUGH_STAGES });
  const app = createLanApp({
    pipeline,
    messages: store,
    destinationNames: config.destinations.map((d) => d.name),
    defaultPurpose: 'TREAT',
    maxBodyBytes,
    shape: { maxDepth: 64, maxEntries: 1000 },
  });
  return { app, store };
}

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: obs }] };

async function outcome(res: Response) {
  const body = (await res.json()) as { resourceType: string; issue: { details?: { text: string } }[] };
  return { status: res.status, type: body.resourceType, text: body.issue?.[0]?.details?.text ?? '' };
}

t.test('a good bundle is accepted with 202, an id, decisions and a Location', async (t) => {
  const { app, store } = setup();
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(res.status, 202);
  const body = (await res.json()) as { id: string; destinations: { name: string; decision: string }[] };
  t.match(body.id, /^[0-9a-f-]{36}$/);
  t.same(body.destinations.map((d) => [d.name, d.decision]), [['national-telemed', 'queued']]);
  t.equal(res.headers.get('location'), `/messages/${body.id}`);
  t.equal(store.writes.length, 1);
  const got = await app.request(`/messages/${body.id}`);
  t.equal(got.status, 200);
});

t.test('an Idempotency-Key makes a retried post return the first answer', async (t) => {
  const { app, store } = setup();
  const post = () => app.request('/fhir/Observation', { method: 'POST', headers: { ...FHIR, 'idempotency-key': 'abc-1' }, body: JSON.stringify(obs) });
  const a = (await (await post()).json()) as { id: string };
  const second = await post();
  t.equal(second.status, 202);
  t.equal(second.headers.get('idempotent-replayed'), 'true');
  t.equal(((await second.json()) as { id: string }).id, a.id);
  t.equal(store.writes.length, 1, 'stored once');
});

t.test('each kind of bad input gets its status and an OperationOutcome', async (t) => {
  const { app } = setup();
  const cases: [string, RequestInit & { path?: string }, number, RegExp][] = [
    ['non-JSON', { body: 'hello' }, 400, /not valid JSON/],
    ['invalid UTF-8', { body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }, 400, /UTF-8/],
    ['wrong content type', { body: JSON.stringify(bundle), headers: { 'content-type': 'text/plain' } }, 415, /Content-Type/],
    ['unknown resourceType in the path', { path: '/fhir/Spaceship', body: JSON.stringify({ resourceType: 'Spaceship' }) }, 404, /not a FHIR R4 resource type/],
    ['unknown resourceType in the body', { body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'Spaceship' } }] }) }, 422, /not a FHIR R4 resource type/],
    ['path type contradicts the body', { path: '/fhir/Patient', body: JSON.stringify(obs) }, 400, /URL names Patient/],
    ['null entry', { body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [null] }) }, 400, /entry\[0\] must be an object/],
    ['unknown Bundle type', { body: JSON.stringify({ resourceType: 'Bundle', type: 'history' }) }, 422, /Bundle.type/],
    ['unknown purpose of use', { body: JSON.stringify(bundle), headers: { ...FHIR, 'x-purpose-of-use': 'SHOPPING' } }, 400, /PurposeOfUse/],
    ['unknown destination', { body: JSON.stringify(bundle), headers: { ...FHIR, 'x-destination': 'mars-clinic' } }, 400, /unknown destination/],
    ['body over the limit', { body: JSON.stringify({ ...bundle, pad: 'x'.repeat(70 * 1024) }) }, 413, /larger than/],
  ];
  for (const [name, init, status, text] of cases) {
    const res = await app.request(init.path ?? '/fhir', { method: 'POST', headers: init.headers ?? FHIR, body: init.body });
    const o = await outcome(res);
    t.equal(o.status, status, `${name}: status`);
    t.equal(o.type, 'OperationOutcome', `${name}: OperationOutcome`);
    t.match(o.text, text, `${name}: message`);
  }
});

t.test('10,000-deep nesting is refused without crashing', async (t) => {
  const { app } = setup({}, 1024 * 1024);
  const body = '{"resourceType":"Bundle","type":"collection","x":' + '['.repeat(10000) + ']'.repeat(10000) + '}';
  const o = await outcome(await app.request('/fhir', { method: 'POST', headers: FHIR, body }));
  t.equal(o.status, 400);
  t.match(o.text, /nests deeper/);
});

t.test('at the queue quota the answer is 503 with Retry-After', async (t) => {
  const { app, store } = setup({ atQuota: () => true });
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(res.status, 503);
  t.equal(res.headers.get('retry-after'), '30');
  t.equal(store.writes.length, 0);
  const racing = setup({ failWith: new QuotaExceededError('the queue is at its disk quota', 12) });
  const res2 = await racing.app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(res2.status, 503, 'a quota hit during the commit is a 503 too');
  t.equal(res2.headers.get('retry-after'), '12', 'with the Retry-After the store asked for');
});

t.test('an unexpected failure is a 500 OperationOutcome with an error id and no internals', async (t) => {
  const { app } = setup({ failWith: new TypeError('secret patient Ali Khan') });
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(res.status, 500);
  const text = await res.text();
  t.notMatch(text, /Ali Khan/);
  t.match(text, /error id [0-9a-f-]{36}/);
});

t.test('unknown routes and message ids are 404 OperationOutcomes', async (t) => {
  const { app } = setup();
  t.equal((await outcome(await app.request('/nope'))).status, 404);
  t.equal((await outcome(await app.request('/messages/123'))).status, 404);
});
