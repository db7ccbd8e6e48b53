import t, { type Test } from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import { ConsentRegistry, consentHandlers, sqliteConsentStore } from '../../src/consent/index.js';
import type { FhirResource } from '../../src/model/index.js';
import { OperationOutcomeError } from '../../src/fhir/index.js';
import { makeConsent, NOW, testCipher, tokenize } from '../fixtures/consents/make.js';

function handlers(t: Test) {
  const db = openDatabase(join(t.testdir({}), 'h.db'));
  t.teardown(() => db.close());
  const registry = ConsentRegistry.open(db, { tokenize, cipher: testCipher(), clock: () => NOW });
  return { h: consentHandlers(sqliteConsentStore(registry)), registry };
}

type Outcome = { resourceType: string; issue: { severity: string; code: string; expression?: string[]; details?: { text: string } }[] };
const issue = (body: FhirResource) => (body as unknown as Outcome).issue[0]!;

/** A handler's answer: its result, or the status and OperationOutcome of the refusal it threw. */
async function answer(call: () => Promise<{ status: number; body: FhirResource }>): Promise<{ status: number; body: FhirResource }> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return { status: err.status, body: err.result.outcome };
  }
}

t.test('POST creates (201) and answers the stored resource with its version', async (t) => {
  const { h } = handlers(t);
  const r = await h.post(makeConsent({ id: 'h1' }));
  t.equal(r.status, 201);
  t.equal(r.body.id, 'h1');
  t.equal(r.body.meta?.versionId, '1');
  const again = await h.post(makeConsent({ id: 'h1', status: 'inactive' }));
  t.equal(again.status, 200);
  t.equal(again.body.meta?.versionId, '2');
});

t.test('a bad Consent answers 422 with an OperationOutcome naming the element', async (t) => {
  const { h } = handlers(t);
  const r = await answer(() => h.post(makeConsent({ provision: { type: 'permit', period: { start: 'soon' } } })));
  t.equal(r.status, 422);
  t.equal(r.body.resourceType, 'OperationOutcome');
  t.same(issue(r.body).expression, ['Consent.provision.period.start']);
  t.equal(issue(r.body).code, 'invalid');
  t.equal((await answer(() => h.post(null))).status, 422);
  t.equal((await answer(() => h.post({ resourceType: 'Observation' }))).status, 422);
});

t.test('PUT creates or versions the consent at that id; a mismatched body id is refused', async (t) => {
  const { h } = handlers(t);
  t.equal((await h.put('p1', makeConsent())).status, 201);
  t.equal((await h.put('p1', makeConsent({ provision: { type: 'deny' } }))).status, 200);
  const bad = await answer(() => h.put('p1', makeConsent({ id: 'p2' })));
  t.equal(bad.status, 422);
  t.same(issue(bad.body).expression, ['Consent.id']);
  t.equal((await answer(() => h.put('bad id!', makeConsent()))).status, 422);
});

t.test('DELETE withdraws (a new inactive version); unknown ids answer 404', async (t) => {
  const { h, registry } = handlers(t);
  await h.post(makeConsent({ id: 'd1' }));
  const r = await h.delete('d1');
  t.equal(r.status, 200);
  t.equal(issue(r.body).severity, 'information');
  t.equal(registry.get('d1')!.status, 'inactive');
  t.equal((await answer(() => h.delete('nope'))).status, 404);
  t.equal((await h.read('d1')).body.status, 'inactive');
  t.equal((await h.read('d1', '1')).body.status, 'active');
  t.equal((await answer(() => h.read('d1', 'x'))).status, 400);
  t.equal((await answer(() => h.read('zzz'))).status, 404);
});

t.test('search by patient answers a searchset; without a patient it is refused', async (t) => {
  const { h } = handlers(t);
  await h.post(makeConsent({ id: 's1' }));
  await h.post(makeConsent({ id: 's2', patient: { identifier: { system: 'http://hospital/mrn', value: '42' } } }));
  const r = await h.search({ patient: 'Patient/123' });
  t.equal(r.status, 200);
  t.equal(r.body.type, 'searchset');
  t.equal(r.body.total, 1);
  t.equal((await h.search({ patient: ['123', 'http://hospital/mrn|42'] })).body.total, 2);
  t.equal((await h.search({ patient: 'http://hospital/mrn|42', status: 'inactive' })).body.total, 0);
  t.equal((await answer(() => h.search({}))).status, 400);
  t.equal((await answer(() => h.search({ patient: '123', _sort: 'date' }))).status, 400);
});

t.test('a consent that cannot be decrypted answers a 500 OperationOutcome on read and a warning entry in search', async (t) => {
  const db = openDatabase(join(t.testdir({}), 'u.db'));
  t.teardown(() => db.close());
  const cipher = testCipher();
  const registry = ConsentRegistry.open(db, { tokenize, cipher });
  const h = consentHandlers(sqliteConsentStore(registry));
  await h.post(makeConsent({ id: 'u1' }));
  cipher.shred('consent');
  const r = await answer(() => h.read('u1'));
  t.equal(r.status, 500);
  t.equal(issue(r.body).code, 'security');
  t.equal(r.body.resourceType, 'OperationOutcome');
  const s = await h.search({ patient: '123' });
  t.equal(s.status, 200);
  t.equal(s.body.total, 0);
  t.match(JSON.stringify(s.body), /"mode":"outcome"/);
  t.equal((await answer(() => h.delete('u1'))).status, 500, 'cannot withdraw what cannot be read');
});

t.test('every refusal is an OperationOutcomeError; other errors pass through untouched', async (t) => {
  const { h } = handlers(t);
  const refusals: [string, () => unknown, number, string][] = [
    ['invalid consent', () => h.post({ resourceType: 'Observation' }), 422, 'invalid'],
    ['unknown id', () => h.read('nope'), 404, 'not-found'],
    ['bad version', () => h.read('nope', '1.5'), 400, 'invalid'],
    ['unknown search parameter', () => h.search({ patient: '1', _count: '5' }), 400, 'not-supported'],
    ['no patient', () => h.search({ status: 'active' }), 400, 'required'],
  ];
  for (const [what, call, status, code] of refusals) {
    const err = (await (call() as Promise<unknown>).then(
      () => undefined,
      (e: unknown) => e,
    )) as OperationOutcomeError;
    t.type(err, OperationOutcomeError, what);
    t.equal(err.status, status, `${what}: status`);
    t.equal(err.result.outcome.resourceType, 'OperationOutcome', `${what}: an OperationOutcome`);
    t.equal(err.result.outcome.issue[0].code, code, `${what}: issue code`);
  }
  const broken = consentHandlers({ put: () => { throw new TypeError('boom'); } } as never);
  await t.rejects(() => broken.post({}), TypeError, 'an unexpected error is not turned into an outcome here');
});
