/**
 * Every answer body the LAN API can produce is FHIR R4: a walk over each route and each
 * way it answers (success in each format, every error a real request can cause, and every
 * outcome kind of src/fhir/outcomes.ts forced at the commit), each body checked against the
 * official R4 definitions with nothing waived (required elements and invariants included).
 * The walk also checks it reached every status the API uses, so a new one cannot slip by.
 */
import t, { type Test } from 'tap';
import { startFixture } from '../auth/gateway-fixture.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { createLanApp } from '../../src/ingress/http/index.js';
import { createPipeline, PASS_THROUGH_STAGES, type Stages } from '../../src/pipeline/index.js';
import {
  OUTCOME_KINDS,
  OperationOutcomeError,
  QuotaExceededError,
  badRequest,
  capabilityStatement,
  conflict,
  duplicate,
  forbidden,
  methodNotAllowed,
  notAcceptable,
  notFound,
  serverError,
  structureProblems,
  tooLarge,
  unprocessable,
  unsupportedMediaType,
  type OutcomeKind,
} from '../../src/fhir/index.js';
import { memoryStore } from '../helpers/memory-store.js';
import { testConfig } from '../helpers/config.js';

interface Seen {
  what: string;
  status: number;
  body: any;
}

function check(t: Test, seen: Seen[]) {
  for (const s of seen) {
    t.ok(s.body && typeof s.body === 'object' && typeof s.body.resourceType === 'string', `${s.what}: a FHIR resource (${s.status})`);
    t.same(structureProblems(s.body), [], `${s.what}: ${s.body?.resourceType} is valid R4`);
  }
}

const MESSAGE = (patient: string, id: string) => ({
  resourceType: 'Bundle',
  type: 'message',
  entry: [
    { fullUrl: 'urn:uuid:5b1a7b0e-3c5d-4a8e-9a36-0a1f2b3c4d5e', resource: { resourceType: 'MessageHeader', id, eventCoding: { system: 'http://example.org/events', code: 'vitals' }, source: { endpoint: 'http://ehr.example/' } } },
    { fullUrl: 'urn:uuid:6c2b8c1f-4d6e-4b9f-8b47-1b2c3d4e5f60', resource: observation(patient, 90) },
  ],
});
const entry = (resource: object) => ({ resource, request: { method: 'POST', url: (resource as { resourceType: string }).resourceType } });

t.test('a real gateway: every route and every way it answers', async (t) => {
  const f = await startFixture(t, {
    patch: (c) => {
      c.access = { consentReadsPerMinute: 12 };
      c.limits.maxBodyBytes = 100_000;
    },
  });
  const ehr = f.token('walk-ehr', ['sender', 'consent-writer']);
  const auditor = f.token('walk-auditor', ['auditor']);
  const operator = f.token('walk-operator', ['operator']);
  const otherSender = f.token('walk-other', ['sender']);
  const seen: Seen[] = [];
  const statuses = new Set<number>();
  async function ask(what: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, token: string | null = ehr) {
    const res = await fetch(`http://127.0.0.1:${f.gw.lanPort}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }), ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    statuses.add(res.status);
    const parsed = text ? JSON.parse(text) : undefined;
    if (parsed !== undefined) seen.push({ what: `${what} (${method} ${path.split('?')[0]})`, status: res.status, body: parsed });
    return { status: res.status, body: parsed, headers: res.headers };
  }
  const P = 'p-walk';

  t.equal((await ask('capabilities', 'GET', '/fhir/metadata')).status, 200);
  t.equal((await ask('patient registered (its age known)', 'POST', '/fhir/Patient', patientFor(P))).status, 202);
  const consent = await ask('consent created', 'POST', '/fhir/Consent', consentFor(P));
  t.equal(consent.status, 201);
  const cid = consent.body.id as string;
  t.equal((await ask('consent search', 'GET', `/fhir/Consent?patient=${P}`)).status, 200);
  t.equal((await ask('consent read', 'GET', `/fhir/Consent/${cid}`)).status, 200);
  t.equal((await ask('consent vread', 'GET', `/fhir/Consent/${cid}/_history/1`)).status, 200);
  t.equal((await ask('consent update', 'PUT', `/fhir/Consent/${cid}`, { ...consentFor(P), id: cid })).status, 200);

  const created = await ask('create, default', 'POST', '/fhir/Observation', observation(P, 1));
  t.equal(created.status, 202);
  t.match(created.body.issue[1].details.text, /national-telemed: queued/);
  t.equal((await ask('create, return=OperationOutcome', 'POST', '/fhir/Observation', observation(P, 2), { prefer: 'return=OperationOutcome' })).status, 202);
  t.equal((await ask('create, return=representation', 'POST', '/fhir/Observation', observation(P, 3), { prefer: 'return=representation' })).body.resourceType, 'Observation');
  const minimal = await ask('create, return=minimal', 'POST', '/fhir/Observation', observation(P, 4), { prefer: 'return=minimal' });
  t.equal(minimal.body, undefined, 'return=minimal has no body to check');
  t.match((await ask('create, denied everywhere', 'POST', '/fhir/Observation', observation('p-walk-none', 5))).body.issue[1].details.text, /denied/);
  t.equal((await ask('collection', 'POST', '/fhir', { resourceType: 'Bundle', type: 'collection', entry: [{ resource: observation(P, 6) }] })).status, 202);
  t.equal((await ask('batch', 'POST', '/fhir', { resourceType: 'Bundle', type: 'batch', entry: [entry(observation(P, 7)), entry(observation('p-walk-none', 8))] })).body.type, 'batch-response');
  t.equal((await ask('transaction', 'POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [entry(observation(P, 9)), entry(observation(P, 10))] })).body.type, 'transaction-response');
  const ok = await ask('message', 'POST', '/fhir', MESSAGE(P, 'mh-walk-1'));
  t.match(ok.body.entry[0].resource.response, { identifier: 'mh-walk-1', code: 'ok' });
  const fatal = await ask('message, denied everywhere', 'POST', '/fhir', MESSAGE('p-walk-none', 'mh-walk-2'));
  t.match(fatal.body.entry[0].resource.response, { identifier: 'mh-walk-2', code: 'fatal-error' });
  const location = created.headers.get('location')!;
  t.equal((await ask('message status as FHIR', 'GET', location, undefined, { accept: 'application/fhir+json' })).status, 200);
  t.equal((await ask('message status, _format=json', 'GET', `${location}?_format=json`)).status, 200);

  // Refusals, one request for each way a request can be wrong.
  const errors: [string, string, string, unknown, Record<string, string>, string | null, number][] = [
    ['not JSON', 'POST', '/fhir/Observation', '{"resourceType":', {}, ehr, 400],
    ['bad purpose header', 'POST', '/fhir/Observation', observation(P, 11), { 'x-purpose-of-use': 'SHOPPING' }, ehr, 400],
    ['bad consent search', 'GET', '/fhir/Consent?colour=blue', undefined, {}, ehr, 400],
    ['no token', 'POST', '/fhir/Observation', observation(P, 12), {}, null, 401],
    ['no token, metadata', 'GET', '/fhir/metadata', undefined, {}, null, 401],
    ['wrong role', 'POST', '/fhir/Observation', observation(P, 13), {}, auditor, 403],
    ['not the sender of the message', 'GET', location, undefined, {}, otherSender, 403],
    ['no route', 'GET', '/nope', undefined, {}, ehr, 404],
    ['not a resource type', 'POST', '/fhir/Nonsense', { resourceType: 'Nonsense' }, {}, ehr, 404],
    ['no such message', 'GET', '/messages/00000000-0000-4000-8000-000000000000', undefined, {}, operator, 404],
    ['no such consent', 'GET', '/fhir/Consent/does-not-exist', undefined, {}, ehr, 404],
    ['search', 'GET', '/fhir/Observation?subject=x', undefined, {}, ehr, 405],
    ['read', 'GET', '/fhir/Observation/x', undefined, {}, ehr, 405],
    ['update', 'PUT', '/fhir/Observation/x', observation(P, 14), {}, ehr, 405],
    ['patch', 'PATCH', '/fhir/Observation/x', '[]', {}, ehr, 405],
    ['delete', 'DELETE', '/fhir/Observation/x', undefined, {}, ehr, 405],
    ['system search', 'GET', '/fhir', undefined, {}, ehr, 405],
    ['XML wanted', 'POST', '/fhir/Observation', observation(P, 15), { accept: 'application/fhir+xml' }, ehr, 406],
    ['_format=xml', 'GET', '/fhir/metadata?_format=xml', undefined, {}, ehr, 406],
    ['too large', 'POST', '/fhir/Observation', { ...observation(P, 16), note: [{ text: 'x'.repeat(120_000) }] }, {}, ehr, 413],
    ['XML body', 'POST', '/fhir/Observation', '<Observation xmlns="http://hl7.org/fhir"/>', { 'content-type': 'application/fhir+xml' }, ehr, 415],
    ['element outside R4', 'POST', '/fhir/Observation', { ...observation(P, 17), hospitalPatientName: 'x' }, {}, ehr, 422],
    ['not a Bundle at the base', 'POST', '/fhir', observation(P, 18), {}, ehr, 422],
    ['invalid consent', 'POST', '/fhir/Consent', { resourceType: 'Consent', status: 'active' }, {}, ehr, 422],
    ['idempotency key reused for another request', 'POST', '/fhir/Observation', observation(P, 19), { 'idempotency-key': 'walk-k' }, ehr, 202],
    ['idempotency key reused for another request', 'POST', '/fhir/Observation', observation(P, 20), { 'idempotency-key': 'walk-k' }, ehr, 422],
  ];
  for (const [what, method, path, body, headers, token, status] of errors) {
    const r = await ask(what, method, path, body, headers, token);
    t.equal(r.status, status, `${what}: ${status}`);
  }
  // Consent reads are rate-limited per identity: read until the limit answers.
  let limited = 0;
  for (let i = 0; i < 20 && limited === 0; i++) if ((await ask('consent reads over the limit', 'GET', `/fhir/Consent/${cid}`)).status === 429) limited++;
  t.equal(limited, 1, 'the consent read limit answered 429');
  t.equal((await ask('consent withdrawn', 'DELETE', `/fhir/Consent/${cid}`, undefined, {}, ehr)).status, 200);

  check(t, seen);
  for (const s of [200, 201, 202, 400, 401, 403, 404, 405, 406, 413, 415, 422, 429]) t.ok(statuses.has(s), `the walk reached ${s}`);
});

const ERRORS: Record<OutcomeKind, Error> = {
  'bad-request': new OperationOutcomeError(badRequest('bad field', 'Observation.status')),
  forbidden: new OperationOutcomeError(forbidden('not for this sender')),
  'not-found': new OperationOutcomeError(notFound('no such thing')),
  'method-not-allowed': new OperationOutcomeError(methodNotAllowed('not here')),
  'not-acceptable': new OperationOutcomeError(notAcceptable('not this format')),
  conflict: new OperationOutcomeError(conflict('clashes')),
  duplicate: new OperationOutcomeError(duplicate('already held')),
  'too-large': new OperationOutcomeError(tooLarge('too big')),
  'unsupported-media-type': new OperationOutcomeError(unsupportedMediaType('not this type')),
  unprocessable: new OperationOutcomeError(unprocessable('refused')),
  'server-error': new OperationOutcomeError(serverError('ours')),
  quota: new QuotaExceededError('the queue is at its disk quota', 5),
};

function inProcess(o: { failWith?: Error; stages?: Partial<Stages> } = {}) {
  const config = testConfig();
  const store = memoryStore(o.failWith ? { failWith: o.failWith } : {});
  const pipeline = createPipeline({ config, store, stages: { ...PASS_THROUGH_STAGES, ...o.stages } });
  return createLanApp({ pipeline, messages: store, destinationNames: ['national-telemed'], defaultPurpose: 'TREAT', maxBodyBytes: 65536, shape: { maxDepth: 64, maxEntries: 100 } });
}

t.test('every outcome kind, forced at the commit, answers a valid OperationOutcome', async (t) => {
  t.same(Object.keys(ERRORS).sort(), [...OUTCOME_KINDS].sort(), 'every kind of the table');
  const seen: Seen[] = [];
  for (const kind of OUTCOME_KINDS) {
    const res = await inProcess({ failWith: ERRORS[kind] }).request('/fhir/Observation', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }),
    });
    seen.push({ what: kind, status: res.status, body: await res.json() });
  }
  const unknown = await inProcess({ failWith: new TypeError('boom') }).request('/fhir/Observation', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: '{"resourceType":"Observation","status":"final"}' });
  t.equal(unknown.status, 500);
  seen.push({ what: 'an unknown failure', status: 500, body: await unknown.json() });
  check(t, seen);
});

t.test('the answers a real gateway reaches only under a stricter policy', async (t) => {
  const deny: Partial<Stages> = {
    classifyEntries: (r) => ((r.entry as unknown[]) ?? []).map(() => PASS_THROUGH_STAGES.classify(r, new Date())),
    decide: (input) => ({ ...PASS_THROUGH_STAGES.decide(input), effect: 'deny', reasons: [{ text: 'not here' }], ruleIds: ['no'] }),
  };
  const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };
  const seen: Seen[] = [];
  const denied = await inProcess({ stages: deny }).request('/fhir', {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [entry(obs)] }),
  });
  t.equal(denied.status, 422);
  seen.push({ what: 'a transaction denied everywhere', status: 422, body: await denied.json() });
  const noRoute = createLanApp({
    pipeline: createPipeline({ config: testConfig((c) => (c.routes = [{ ...c.routes[0]!, match: { ...c.routes[0]!.match, resourceTypes: ['Observation'] } }])), store: memoryStore(), stages: PASS_THROUGH_STAGES }),
    messages: memoryStore(),
    destinationNames: ['national-telemed'],
    defaultPurpose: 'TREAT',
    maxBodyBytes: 65536,
    shape: { maxDepth: 64, maxEntries: 100 },
  });
  const batch = await noRoute.request('/fhir', {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [entry(obs), entry({ resourceType: 'Patient', active: true })] }),
  });
  const b = await batch.json();
  t.equal(b.entry[1].response.status, '422 Unprocessable Entity');
  seen.push({ what: 'a batch with an entry refused', status: batch.status, body: b });
  const message = await inProcess().request('/fhir', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ ...MESSAGE('p', 'x'), entry: [{ resource: { resourceType: 'MessageHeader', eventUri: 'urn:e', source: { endpoint: 'urn:s' } } }] }) });
  const m = await message.json();
  t.notOk(m.entry[0].resource.response, 'a request MessageHeader without an id cannot be named');
  seen.push({ what: 'a response to a message without ids', status: message.status, body: m });
  for (const certificates of [true, false]) {
    for (const bearerTokens of [true, false]) {
      seen.push({ what: `CapabilityStatement (certificates ${certificates}, tokens ${bearerTokens})`, status: 200, body: capabilityStatement({ version: '1.2.3', date: '2026-12-01T00:00:00Z', certificates, bearerTokens, baseUrl: 'https://gw.example/fhir' }) });
    }
  }
  check(t, seen);
});
