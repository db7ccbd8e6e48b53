/**
 * The LAN API as FHIR R4 REST, in process: the CapabilityStatement, Prefer on a create,
 * the decision JSON by Accept, _format/Accept (406), XML bodies (415), 405 for what a
 * gateway does not offer, and the batch-response, transaction-response and response
 * message Bundles. Every FHIR body is checked as R4 (missing required elements included).
 */
import t, { type Test } from 'tap';
import { createLanApp } from '../../../src/ingress/http/index.js';
import { createPipeline, PASS_THROUGH_STAGES, type Stages } from '../../../src/pipeline/index.js';
import { structureProblems, DECISION_MEDIA_TYPE, MESSAGE_TAG_SYSTEM } from '../../../src/fhir/index.js';
import { memoryStore } from '../../helpers/memory-store.js';
import { testConfig } from '../../helpers/config.js';

function setup(o: { stages?: Partial<Stages>; routes?: (c: ReturnType<typeof testConfig>) => void } = {}) {
  const config = testConfig();
  o.routes?.(config);
  const store = memoryStore();
  const pipeline = createPipeline({ config, store, stages: { ...PASS_THROUGH_STAGES, ...o.stages } });
  const app = createLanApp({
    pipeline,
    messages: store,
    destinationNames: config.destinations.map((d) => d.name),
    defaultPurpose: 'TREAT',
    maxBodyBytes: 64 * 1024,
    shape: { maxDepth: 64, maxEntries: 1000 },
  });
  return { app, store };
}

const FHIR = { 'content-type': 'application/fhir+json' };
const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
const entry = (resource: object) => ({ resource, request: { method: 'POST', url: (resource as { resourceType: string }).resourceType } });

async function fhirBody(t: Test, res: Response): Promise<any> {
  t.match(res.headers.get('content-type') ?? '', /^application\/fhir\+json/, 'labelled FHIR JSON');
  const body = await res.json();
  t.same(structureProblems(body), [], `${body.resourceType} is valid R4`);
  return body;
}

t.test('GET /fhir/metadata: an R4 CapabilityStatement of a gateway', async (t) => {
  const { app } = setup();
  const res = await app.request('/fhir/metadata');
  t.equal(res.status, 200);
  const cs = await fhirBody(t, res);
  t.equal(cs.resourceType, 'CapabilityStatement');
  t.equal(cs.fhirVersion, '4.0.1');
  t.ok(cs.format.includes('json'));
  t.equal(cs.rest[0].mode, 'server');
  t.same(cs.rest[0].interaction.map((i: { code: string }) => i.code).sort(), ['batch', 'transaction']);
  const byType = new Map<string, string[]>(cs.rest[0].resource.map((r: any) => [r.type, r.interaction.map((i: any) => i.code)]));
  t.same(byType.get('Observation'), ['create']);
  t.same(byType.get('Patient'), ['create']);
  t.ok(byType.get('Consent')?.includes('search-type'), 'Consent is kept, so it is searchable');
  t.equal(byType.size, 146, 'every R4 resource type');
  t.match(cs.rest[0].documentation, /gateway, not a FHIR store/);
  t.match(cs.implementation.url, /\/fhir$/);
});

t.test('a create answers 202 + Location; the body follows Prefer', async (t) => {
  const { app, store } = setup();
  const post = (headers: Record<string, string> = {}) => app.request('/fhir/Observation', { method: 'POST', headers: { ...FHIR, ...headers }, body: JSON.stringify(obs) });

  const plain = await post();
  t.equal(plain.status, 202);
  const oo = await fhirBody(t, plain);
  t.equal(oo.resourceType, 'OperationOutcome');
  const id = /^\/messages\/(.+)$/.exec(plain.headers.get('location') ?? '')?.[1];
  t.ok(id, 'Location names the message');
  t.ok(oo.issue.every((i: { severity: string }) => i.severity === 'information'));
  t.match(oo.issue[0].details.text, new RegExp(`accepted as message ${id}: queued for 1 of 1`));
  t.match(oo.issue[1].details.text, /^national-telemed: queued: pass-through policy \(tests only\) \(rules: pass-through\)/, 'each destination in words');
  t.equal((await app.request(plain.headers.get('location')!)).status, 200, 'the Location exists');

  const asOutcome = await post({ prefer: 'return=OperationOutcome' });
  t.equal((await fhirBody(t, asOutcome)).resourceType, 'OperationOutcome');

  const minimal = await post({ prefer: 'return=minimal' });
  t.equal(minimal.status, 202);
  t.equal(await minimal.text(), '', 'return=minimal: no body');
  t.match(minimal.headers.get('location'), /^\/messages\//);

  const rep = await post({ prefer: 'handling=strict, return=representation' });
  t.equal(rep.status, 202);
  const r = await fhirBody(t, rep);
  const repId = rep.headers.get('location')!.split('/').pop();
  t.match(r, { ...obs, meta: { tag: [{ system: MESSAGE_TAG_SYSTEM, code: repId }] } }, 'the resource as accepted, tagged with its message');

  const decision = await post({ accept: DECISION_MEDIA_TYPE });
  t.equal(decision.status, 202);
  const d = (await decision.json()) as { id: string; destinations: { name: string; decision: string }[] };
  t.same(d.destinations.map((x) => [x.name, x.decision]), [['national-telemed', 'queued']], 'the decision JSON, by Accept');
  t.equal(decision.headers.get('location'), `/messages/${d.id}`);
  t.equal(store.writes.length, 5);
});

t.test('an idempotent replay answers in the format the retry asks for', async (t) => {
  const { app, store } = setup();
  const post = (headers: Record<string, string>) =>
    app.request('/fhir/Observation', { method: 'POST', headers: { ...FHIR, 'idempotency-key': 'k-1', ...headers }, body: JSON.stringify(obs) });
  const first = (await (await post({ accept: DECISION_MEDIA_TYPE })).json()) as { id: string };
  const again = await post({});
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(again.headers.get('location'), `/messages/${first.id}`);
  t.match((await fhirBody(t, again)).issue[0].details.text, first.id);
  t.equal(store.writes.length, 1);
});

t.test('_format and Accept: JSON is served, anything else is 406 with an OperationOutcome', async (t) => {
  const { app, store } = setup();
  const post = (path: string, accept?: string) =>
    app.request(path, { method: 'POST', headers: { ...FHIR, ...(accept ? { accept } : {}) }, body: JSON.stringify(obs) });
  for (const accept of ['application/fhir+json', 'application/fhir+json; fhirVersion=4.0', 'application/json', '*/*', 'application/fhir+xml;q=0.9, application/json;q=0.5', 'application/json+fhir']) {
    t.equal((await post('/fhir/Observation', accept)).status, 202, `Accept: ${accept}`);
  }
  for (const format of ['json', 'application/fhir+json', 'application/fhir%2Bjson', 'application/json']) {
    t.equal((await post(`/fhir/Observation?_format=${format}`, 'application/fhir+xml')).status, 202, `_format=${format} wins over Accept`);
  }
  const writes = store.writes.length;
  for (const accept of ['application/fhir+xml', 'text/html', 'application/fhir+json; fhirVersion=3.0', 'application/json;q=0']) {
    const res = await post('/fhir/Observation', accept);
    t.equal(res.status, 406, `Accept: ${accept}`);
    t.match((await fhirBody(t, res)).issue[0], { severity: 'error', code: 'not-supported', details: { text: /serves JSON only/ } });
  }
  for (const format of ['xml', 'application/fhir+xml', 'html', 'turtle']) {
    t.equal((await post(`/fhir/Observation?_format=${format}`)).status, 406, `_format=${format}`);
  }
  t.equal((await app.request('/fhir/metadata?_format=xml')).status, 406, 'every route, metadata included');
  t.equal((await app.request('/fhir/metadata?_format=json&_format=xml')).status, 400, '_format given twice');
  t.equal(store.writes.length, writes, 'nothing refused was stored');
});

t.test('FHIR XML bodies answer 415 saying JSON is required', async (t) => {
  const { app, store } = setup();
  for (const type of ['application/fhir+xml', 'application/xml', 'text/xml; charset=utf-8']) {
    const res = await app.request('/fhir/Observation', { method: 'POST', headers: { 'content-type': type }, body: '<Observation xmlns="http://hl7.org/fhir"><status value="final"/></Observation>' });
    t.equal(res.status, 415, type);
    t.match((await fhirBody(t, res)).issue[0].details.text, /FHIR XML is not accepted: darwaza takes FHIR JSON only; send the body as application\/fhir\+json/);
  }
  const v3 = await app.request('/fhir/Observation', { method: 'POST', headers: { 'content-type': 'application/fhir+json; fhirVersion=3.0' }, body: JSON.stringify(obs) });
  t.equal(v3.status, 415, 'another FHIR version is refused');
  const v4 = await app.request('/fhir/Observation', { method: 'POST', headers: { 'content-type': 'application/fhir+json; fhirVersion=4.0' }, body: JSON.stringify(obs) });
  t.equal(v4.status, 202, 'fhirVersion=4.0 is accepted');
  t.equal(store.writes.length, 1);
});

t.test('what a FHIR store offers and a gateway does not: 405 with an OperationOutcome in plain words', async (t) => {
  const { app } = setup();
  const cases: [string, string, RegExp, string][] = [
    ['GET', '/fhir/Observation?patient=123', /^search-type on Observation is not supported/, 'POST'],
    ['GET', '/fhir/Observation/abc', /^read on Observation/, ''],
    ['GET', '/fhir/Observation/abc/_history/1', /^history on Observation/, ''],
    ['PUT', '/fhir/Observation/abc', /^update on Observation/, ''],
    ['PATCH', '/fhir/Observation/abc', /^patch on Observation/, ''],
    ['DELETE', '/fhir/Observation/abc', /^delete on Observation/, ''],
    ['DELETE', '/fhir/Observation?code=x', /^conditional delete on Observation/, 'POST'],
    ['POST', '/fhir/Observation/_search', /^search-type on Observation/, ''],
    ['GET', '/fhir', /^search-system at the base/, 'POST'],
    ['GET', '/fhir/_history', /^history/, ''],
    ['PUT', '/fhir/Patient/p1', /^update on Patient/, ''],
  ];
  for (const [method, path, text, allow] of cases) {
    const res = await app.request(path, { method, ...(method === 'PUT' || method === 'PATCH' ? { headers: FHIR, body: JSON.stringify(obs) } : {}) });
    t.equal(res.status, 405, `${method} ${path}`);
    t.equal(res.headers.get('allow'), allow, 'Allow names what the URL takes');
    const oo = await fhirBody(t, res);
    t.match(oo.issue[0].details.text, text);
    t.match(oo.issue[0].details.text, /darwaza is a privacy gateway, not a FHIR store/);
    t.notMatch(JSON.stringify(oo), /abc|p1|123/, 'no id or query is echoed');
  }
  t.equal((await app.request('/fhir/Nonsense/1')).status, 404, 'an unknown type is not found');
});

t.test('a batch answers a batch-response: status, location and outcome per entry', async (t) => {
  // Only Observations are routed: the Patient entry has nowhere to go.
  const { app, store } = setup({ routes: (c) => (c.routes = [{ ...c.routes[0]!, match: { ...c.routes[0]!.match, resourceTypes: ['Observation'] } }]) });
  const bundle = { resourceType: 'Bundle', type: 'batch', entry: [entry(obs), entry({ resourceType: 'Patient', active: true }), entry({ ...obs, status: 'amended' })] };
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(res.status, 200);
  const b = await fhirBody(t, res);
  t.equal(b.type, 'batch-response');
  t.equal(b.entry.length, 3);
  t.equal(b.entry[0].response.status, '202 Accepted');
  t.match(b.entry[0].response.location, /^\/messages\/.+/);
  t.match(b.entry[0].response.outcome.issue[1].details.text, /^national-telemed: queued/);
  t.equal(b.entry[1].response.status, '422 Unprocessable Entity');
  t.match(b.entry[1].response.outcome.issue[0], { severity: 'error', details: { text: /No route matches/ }, expression: ['Bundle.entry[1]'] });
  t.notOk(b.entry[1].response.location);
  t.equal(b.entry[2].response.status, '202 Accepted');
  t.not(b.entry[2].response.location, b.entry[0].response.location, 'each entry is its own message');
  t.equal(store.writes.length, 2);
  for (const e of [b.entry[0], b.entry[2]]) t.equal((await app.request(e.response.location)).status, 200, 'each location exists');

  const decision = await app.request('/fhir', { method: 'POST', headers: { ...FHIR, accept: DECISION_MEDIA_TYPE }, body: JSON.stringify(bundle) });
  t.equal(decision.status, 202);
  t.equal(((await decision.json()) as { entries: unknown[] }).entries.length, 3, 'the decision JSON by Accept');
});

t.test('batch entries that read, delete or patch are answered 405 on their own; the others are judged', async (t) => {
  const { app, store } = setup();
  const bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      entry(obs),
      { request: { method: 'GET', url: 'Observation?code=x' } },
      { request: { method: 'DELETE', url: 'Observation/1' } },
      { resource: obs, request: { method: 'PATCH', url: 'Observation/1' } },
      { request: { method: 'Ali Khan 35202', url: 'x' } },
      { resource: { ...obs, status: 'amended' }, request: { method: 'PUT', url: 'Observation/2' } },
    ],
  };
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(res.status, 200, 'the batch is answered, not refused whole');
  const b = await fhirBody(t, res);
  t.same(
    b.entry.map((e: { response: { status: string } }) => e.response.status),
    ['202 Accepted', '405 Method Not Allowed', '405 Method Not Allowed', '405 Method Not Allowed', '405 Method Not Allowed', '202 Accepted'],
  );
  t.match(b.entry[1].response.outcome.issue[0], { code: 'not-supported', details: { text: /^GET in a batch is not offered/ }, expression: ['Bundle.entry[1].request.method'] });
  t.notMatch(JSON.stringify(b.entry[4]), /Ali Khan/, 'a method that is not one is not echoed');
  t.equal(store.writes.length, 2, 'only the POST and the PUT became messages');

  // A transaction is all or nothing: an entry without a resource still refuses it whole.
  const tx = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify({ ...bundle, type: 'transaction' }) });
  t.equal(tx.status, 400);
  t.match((await tx.json()).issue[0].details.text, /Bundle.entry\[1\].resource is missing/);
});

t.test('a transaction answers a transaction-response; a transaction denied everywhere is a 422 OperationOutcome', async (t) => {
  const { app } = setup();
  const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [entry(obs), entry({ ...obs, status: 'amended' })] };
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(res.status, 200);
  const b = await fhirBody(t, res);
  t.equal(b.type, 'transaction-response');
  t.equal(b.entry.length, 2);
  t.ok(b.entry.every((e: any) => e.response.status === '202 Accepted' && e.response.location === res.headers.get('location')), 'one message, one Location');
  t.match(b.entry[0].response.outcome.issue[1].details.text, /national-telemed: queued/);

  const deny = setup({
    stages: {
      classifyEntries: (r) => ((r.entry as unknown[]) ?? []).map(() => PASS_THROUGH_STAGES.classify(r, new Date())),
      decide: (input) => ({ ...PASS_THROUGH_STAGES.decide(input), effect: 'deny', reasons: [{ text: 'not for tests' }], ruleIds: ['no'] }),
    },
  });
  const refused = await deny.app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(bundle) });
  t.equal(refused.status, 422);
  const oo = await fhirBody(t, refused);
  t.match(oo.issue[0], { severity: 'error', code: 'forbidden', details: { text: /entry 0 may not go to national-telemed/ } });
});

t.test('a message Bundle answers a response message naming the request MessageHeader', async (t) => {
  const message = (header: object) => ({
    resourceType: 'Bundle',
    id: 'bundle-1',
    type: 'message',
    entry: [{ resource: { resourceType: 'MessageHeader', eventCoding: { system: 'http://example.org/events', code: 'lab-result' }, source: { endpoint: 'http://lis.example/' }, ...header } }, { resource: obs }],
  });
  const { app } = setup();
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(message({ id: 'mh-1' })) });
  t.equal(res.status, 200);
  const b = await fhirBody(t, res);
  t.equal(b.type, 'message');
  const header = b.entry[0].resource;
  t.match(header, { resourceType: 'MessageHeader', eventCoding: { code: 'lab-result' }, response: { identifier: 'mh-1', code: 'ok' }, destination: [{ endpoint: 'http://lis.example/' }] });
  t.equal(header.focus[0].reference, b.entry[1].fullUrl, 'the focus is the outcome');
  t.match(b.entry[1].resource.issue[1].details.text, /national-telemed: queued/);

  const noId = await fhirBody(t, await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(message({})) }));
  t.equal(noId.entry[0].resource.response.identifier, 'bundle-1', 'without a MessageHeader.id, the Bundle id');

  const deny = setup({ stages: { decide: (input) => ({ ...PASS_THROUGH_STAGES.decide(input), effect: 'deny', reasons: [{ text: 'not for tests' }], ruleIds: ['no'] }) } });
  const denied = await fhirBody(t, await deny.app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify(message({ id: 'mh-2' })) }));
  t.match(denied.entry[0].resource.response, { identifier: 'mh-2', code: 'fatal-error' }, 'denied everywhere: fatal-error');
  t.match(denied.entry[1].resource.issue[1].details.text, /national-telemed: denied: not for tests/);
});

t.test('a collection Bundle is one create: 202 and the decisions', async (t) => {
  const { app } = setup();
  const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: obs }] }) });
  t.equal(res.status, 202);
  t.equal((await fhirBody(t, res)).resourceType, 'OperationOutcome');
});

t.test('empty batch and transaction Bundles answer response Bundles without entries (valid R4)', async (t) => {
  const { app } = setup();
  for (const type of ['batch', 'transaction']) {
    const res = await app.request('/fhir', { method: 'POST', headers: FHIR, body: JSON.stringify({ resourceType: 'Bundle', type }) });
    t.equal(res.status, 200, type);
    const b = await fhirBody(t, res);
    t.equal(b.type, `${type}-response`);
    t.notOk('entry' in b, 'no empty entry array');
  }
});
