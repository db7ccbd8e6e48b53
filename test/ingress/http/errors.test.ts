/**
 * Over a real HTTP server: an error nobody expected answers 500 with an error id and
 * nothing else, and the same id reaches the observer (the log line); the Consent routes
 * and the admin API answer their errors as FHIR OperationOutcomes through the same handler.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { createLanApp } from '../../../src/ingress/http/index.js';
import { createAdminApp, createMetrics } from '../../../src/admin/index.js';
import { createPipeline, PASS_THROUGH_STAGES } from '../../../src/pipeline/index.js';
import { ConsentRegistry, consentHandlers, sqliteConsentStore } from '../../../src/consent/index.js';
import { openDatabase } from '../../../src/store/index.js';
import { memoryStore } from '../../helpers/memory-store.js';
import { testConfig } from '../../helpers/config.js';
import { makeConsent, NOW, testCipher, tokenize } from '../../fixtures/consents/make.js';

type Body = { resourceType: string; issue: { severity: string; code: string; diagnostics?: string; details?: { text: string }; expression?: string[] }[] };

async function listen(t: Test, app: Hono): Promise<string> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function lan(t: Test, failWith?: Error) {
  const config = testConfig();
  const store = memoryStore(failWith ? { failWith } : {});
  const db = openDatabase(join(t.testdir({}), 'c.db'));
  t.teardown(() => db.close());
  const cipher = testCipher();
  const registry = ConsentRegistry.open(db, { tokenize, cipher, clock: () => NOW });
  const logged: { err: unknown; errorId: string }[] = [];
  const app = createLanApp({
    pipeline: createPipeline({ config, store, stages: PASS_THROUGH_STAGES }),
    messages: store,
    destinationNames: ['national-telemed'],
    defaultPurpose: 'TREAT',
    maxBodyBytes: 65536,
    shape: { maxDepth: 64, maxEntries: 100 },
    consent: consentHandlers(sqliteConsentStore(registry)),
    observer: { error: (err, errorId) => logged.push({ err, errorId }) },
  });
  return { app, logged, cipher };
}

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };

t.test('an unknown thrown error answers 500 with an error id, no message text, and the id is logged', async (t) => {
  const secret = new TypeError('Ali Khan, CNIC 35202-1234567-1, could not be read');
  const { app, logged } = lan(t, secret);
  const url = await listen(t, app);
  const res = await fetch(`${url}/fhir/Observation`, { method: 'POST', headers: FHIR, body: JSON.stringify({ resourceType: 'Observation', status: 'final' }) });
  t.equal(res.status, 500);
  t.match(res.headers.get('content-type') ?? '', /json/);
  const text = await res.text();
  t.notMatch(text, /Ali Khan|35202|could not be read|TypeError/, 'none of the error reaches the sender');
  const body = JSON.parse(text) as Body;
  t.equal(body.resourceType, 'OperationOutcome');
  t.equal(body.issue.length, 1);
  const id = /error id ([0-9a-f-]{36})/.exec(body.issue[0]!.diagnostics ?? '')?.[1];
  t.ok(id, 'the answer carries an error id');
  t.equal(logged.length, 1, 'one log line');
  t.equal(logged[0]!.errorId, id, 'under the same id');
  t.equal(logged[0]!.err, secret, 'with the error itself (the logger describes it PHI-free)');
});

t.test('Consent route errors are OperationOutcomes with their status', async (t) => {
  const { app, logged, cipher } = lan(t);
  const url = await listen(t, app);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, { method, headers: FHIR, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const cases: [string, string, string, unknown, number, string][] = [
    ['invalid consent', 'POST', '/fhir/Consent', makeConsent({ provision: { type: 'permit', period: { start: 'soon' } } }), 422, 'invalid'],
    ['unknown id', 'GET', '/fhir/Consent/nope', undefined, 404, 'not-found'],
    ['bad version', 'GET', '/fhir/Consent/nope/_history/x', undefined, 400, 'invalid'],
    ['withdraw unknown', 'DELETE', '/fhir/Consent/nope', undefined, 404, 'not-found'],
    ['search without patient', 'GET', '/fhir/Consent?status=active', undefined, 400, 'required'],
    ['unknown search parameter', 'GET', '/fhir/Consent?patient=1&_sort=date', undefined, 400, 'not-supported'],
  ];
  for (const [what, method, path, body, status, code] of cases) {
    const r = await call(method, path, body);
    t.equal(r.status, status, `${what}: status`);
    t.equal(r.body.resourceType, 'OperationOutcome', `${what}: OperationOutcome`);
    t.equal(r.body.issue[0]!.code, code, `${what}: issue code`);
  }
  t.same((await call('POST', '/fhir/Consent', makeConsent({ provision: { type: 'permit', period: { start: 'soon' } } }))).body.issue[0]!.expression, ['Consent.provision.period.start']);

  t.equal((await call('POST', '/fhir/Consent', makeConsent({ id: 'u1' }))).status, 201);
  cipher.shred('consent');
  const unreadable = await call('GET', '/fhir/Consent/u1');
  t.equal(unreadable.status, 500, 'a consent we cannot read is our failure');
  t.equal(unreadable.body.issue[0]!.code, 'security');
  t.match(unreadable.body.issue[0]!.diagnostics ?? '', /error id [0-9a-f-]{36}/);
  t.equal(logged.length, 1, 'logged under that id');
});

t.test('the admin API answers 404s and unexpected errors as OperationOutcomes', async (t) => {
  const logged: string[] = [];
  const app = createAdminApp({
    metrics: createMetrics(),
    ready: () => ({ ok: true, reasons: [] }),
    explain: (id) => {
      if (id === 'boom') throw new Error('Ali Khan');
      return undefined;
    },
    onServerError: (_err, errorId) => logged.push(errorId),
  });
  const url = await listen(t, app);
  const missing = await fetch(`${url}/messages/m-1/explain`);
  t.equal(missing.status, 404);
  t.equal(((await missing.json()) as Body).issue[0]!.code, 'not-found');
  const nowhere = await fetch(`${url}/nowhere`);
  t.equal(nowhere.status, 404);
  t.equal(((await nowhere.json()) as Body).resourceType, 'OperationOutcome');
  const boom = await fetch(`${url}/messages/boom/explain`);
  t.equal(boom.status, 500);
  const text = await boom.text();
  t.notMatch(text, /Ali Khan/);
  t.match(text, new RegExp(`error id ${logged[0]}`));
});
