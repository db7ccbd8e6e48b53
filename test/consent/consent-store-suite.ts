/**
 * One suite over both backends of the async consent ports (ConsentStore, PatientFacts): the
 * SQLite registry and memory behind their adapters, and the PostgreSQL stores. Not a test
 * file itself (excluded from tap): consent-store-sqlite.test.ts and
 * consent-store-postgres.test.ts run it.
 */
import type { Test } from 'tap';
import {
  ConsentNotFoundError,
  ConsentUnreadableError,
  ConsentValidationError,
  evaluateConsent,
  tokensForIds,
  type ConsentStore,
  type PatientFacts,
  type WithdrawInfo,
} from '../../src/consent/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { makeConsent, makeRequest, tokenize } from '../fixtures/consents/make.js';

export interface ConsentNode {
  store: ConsentStore;
  facts: PatientFacts;
}

export interface ConsentBackendHandle extends ConsentNode {
  /** Events every node of the handle audited (after commit on PostgreSQL, in the transaction on SQLite). */
  events: AuditEvent[];
  /** Another node on the same database (its own store, facts and caches; the same keys). */
  second(): Promise<ConsentNode>;
  /** Every stored resource blob and remembered value, raw, as the database holds it. */
  rawBlobs(): Promise<Buffer[]>;
  /** Edits the clear status column of a consent's current pointer, as someone with write access to the database could. */
  tamperCurrentStatus(id: string, status: string): Promise<void>;
  /** Edits the clear status column of a stored version. */
  tamperVersionStatus(id: string, version: number, status: string): Promise<void>;
  /** Points a patient token's index row at another consent. */
  tamperToken(token: string, id: string): Promise<void>;
}

export type ConsentBackend = (t: Test) => Promise<ConsentBackendHandle>;

const tokensOf = (...ids: string[]) => tokensForIds(ids, tokenize);
const sorted = <T>(xs: T[]) => [...xs].sort();

export function consentStoreSuite(t: Test, open: ConsentBackend): void {
  t.test('versions: each put is a new version, the same content is not, get and history read them back', async (t) => {
    const { store } = await open(t);
    t.same(await store.put(makeConsent({ id: 'c1' })), { id: 'c1', version: 1, status: 'active' });
    t.same(await store.put(makeConsent({ id: 'c1' })), { id: 'c1', version: 1, status: 'active', unchanged: true });
    t.equal((await store.put(makeConsent({ id: 'c1', provision: { type: 'deny' } }))).version, 2);
    const h = await store.history('c1');
    t.same(h.map((v) => v.version), [1, 2]);
    t.ok(h[0]!.receivedAt <= h[1]!.receivedAt);
    t.equal(h[1]!.resource.meta?.versionId, '2');
    t.equal((await store.get('c1'))!.version, 2);
    t.equal((await store.get('c1', 1))!.compiled.root.type, 'permit');
    t.equal(await store.get('nope'), undefined);
    t.match((await store.put(makeConsent())).id, /^[0-9a-f-]{36}$/, 'an id is made when none is given');
    t.equal((await store.put(makeConsent(), { id: 'p1' })).id, 'p1');
    await t.rejects(store.put(makeConsent({ id: 'x' }), { id: 'y' }), ConsentValidationError);
    await t.rejects(store.put(makeConsent({ status: 'bogus' })), ConsentValidationError);
    t.equal(await store.count(), 3);
  });

  t.test('forTokens finds the latest versions under every id string of the patient', async (t) => {
    const { store } = await open(t);
    await store.put(makeConsent({ id: 'a', patient: { reference: 'Patient/123' } }));
    await store.put(makeConsent({ id: 'b', patient: { identifier: { system: 'http://hospital/mrn', value: '999' } } }));
    await store.put(makeConsent({ id: 'c', patient: { reference: 'Patient/other' } }));
    await store.put(makeConsent({ id: 'a', status: 'inactive' }));
    const found = await store.forTokens(tokensOf('Patient/123', 'http://hospital/mrn|999'));
    t.same(sorted(found.map((c) => `${c.id}:${c.version}:${c.status}`)), ['a:2:inactive', 'b:1:active']);
    t.same(await store.forTokens(tokensOf('Patient/nobody')), []);
    t.same(await store.forTokens([]), []);
  });

  t.test('withdraw: a new inactive version with reason and actor, heard once, idempotent', async (t) => {
    const { store, events } = await open(t);
    const heard: [string[], string, WithdrawInfo][] = [];
    const off = store.onWithdraw((tokens, id, info) => heard.push([tokens, id, info]));
    await store.put(makeConsent({ id: 'w', provision: { type: 'permit', purpose: [{ code: 'TREAT' }] } }));
    t.same(await store.withdraw('w', 'DELETE', 'clerk-7'), { id: 'w', version: 2 });
    t.same(await store.withdraw('w'), { id: 'w', version: 2 }, 'withdrawing again changes nothing');
    t.equal((await store.get('w'))!.status, 'inactive');
    t.equal((await store.history('w'))[1]!.reason, 'DELETE');
    t.equal(heard.length, 1);
    t.same(heard[0]![0], tokensOf('Patient/123'));
    t.same(heard[0]![2], { version: 2, status: 'inactive', purposes: ['TREAT', 'ETREAT'] });
    const withdrawn = events.find((e) => e.event === 'consent-withdrawn');
    t.match(withdrawn, { consentId: 'w', consentVersion: '2', actor: 'clerk-7', reason: 'consent withdrawn (status inactive, DELETE)' });
    t.equal(withdrawn!.patientToken, tokensOf('Patient/123')[0]);
    await t.rejects(store.withdraw('missing'), ConsentNotFoundError);
    await store.put(makeConsent({ id: 'r' }));
    await store.put(makeConsent({ id: 'r', status: 'rejected' }));
    t.equal(heard.length, 2, 'a new version with a withdrawing status is heard too');
    off();
    await store.put(makeConsent({ id: 'z' }));
    await store.withdraw('z');
    t.equal(heard.length, 2, 'unsubscribed');
    t.same(
      (await store.forTokens(tokensOf('Patient/123'))).filter((c) => c.status === 'active'),
      [],
      'nothing of the patient is active any more',
    );
  });

  t.test('putMany keeps the good consents and reports the bad ones by element', async (t) => {
    const { store } = await open(t);
    const res = await store.putMany([makeConsent({ id: 'g1' }), makeConsent({ patient: undefined }), makeConsent({ id: 'g2' })]);
    t.same(res.map((r) => r.ok), [true, false, true]);
    t.equal((res[1] as { error: ConsentValidationError }).error.element, 'Consent.patient');
    t.equal(await store.count(), 2);
  });

  t.test('a new version may add identifiers of the patient but not move the consent to another patient', async (t) => {
    const { store } = await open(t);
    await store.put(makeConsent({ id: 'same', patient: { reference: 'Patient/123' } }));
    t.equal((await store.put(makeConsent({ id: 'same', patient: { reference: 'Patient/123', identifier: { system: 'http://hospital/mrn', value: '5' } } }))).version, 2);
    t.equal((await store.forTokens(tokensOf('http://hospital/mrn|5'))).length, 1);
    await t.rejects(store.put(makeConsent({ id: 'same', patient: { reference: 'Patient/someone-else' } })), { name: 'ConsentValidationError', message: /same patient/ });
    t.equal((await store.get('same'))!.version, 2);
  });

  t.test('list and search: by patient, by status, weak ids namespaced by the source that filed them', async (t) => {
    const { store } = await open(t);
    await store.put(makeConsent({ id: 's1' }));
    await store.put(makeConsent({ id: 's2', status: 'inactive' }));
    await store.put(makeConsent({ id: 's3', patient: { reference: 'Patient/else' } }));
    await store.put(makeConsent({ id: 'lab', patient: { reference: 'Patient/123' } }), { source: 'lab-a' });
    const b = (await store.search({ patientIds: ['123'] })) as unknown as { type: string; total: number; entry: { fullUrl: string }[] };
    t.equal(b.type, 'searchset');
    t.same(sorted(b.entry.map((e) => e.fullUrl)), ['Consent/s1', 'Consent/s2'], "another source's Patient/123 is another patient");
    t.equal(((await store.search({ patientIds: ['Patient/123'], status: 'active' })) as unknown as { total: number }).total, 1);
    const lab = await store.list({ patientIds: ['Patient/123'], source: 'lab-a' });
    t.same(lab.map((c) => c.id), ['lab']);
    t.same(await store.forTokens(tokensForIds(['Patient/123'], tokenize, 'lab-a')).then((r) => r.map((c) => c.id)), ['lab']);
    const all = await store.list();
    t.same(sorted(all.map((c) => c.id)), ['lab', 's1', 's2', 's3']);
    t.equal(all.unreadable, 0);
    t.equal((await store.list({ limit: 2 })).length, 2);
    t.equal(await store.count(), 4);
    t.equal((await store.get('lab'))!.resource.meta?.source, 'urn:darwaza:source:lab-a', 'who filed it is sealed inside the resource');
    // a withdrawal keeps the source that filed the consent
    await store.withdraw('lab');
    t.same((await store.forTokens(tokensForIds(['Patient/123'], tokenize, 'lab-a'))).map((c) => `${c.id}:${c.status}`), ['lab:inactive']);
  });

  t.test('patient facts: birth dates, weak-id bindings (the first stays), and erasure', async (t) => {
    const { facts } = await open(t);
    const patient = tokensOf('urn:oid:2.16.586.1.1|35202-1111111-1', 'http://hospital/mrn|42');
    const other = tokensOf('urn:oid:2.16.586.1.1|35202-2222222-2');
    const [weak] = tokensOf('Patient/42');
    const [weak2] = tokensOf('Patient/43');
    t.equal(await facts.birthDate(patient), undefined);
    await facts.rememberBirthDate(patient, '1961-03-04');
    await facts.rememberBirthDate(other, '1990-01-01');
    await facts.rememberBirthDate(patient, 'not a date');
    t.equal(await facts.birthDate([patient[1]!]), '1961-03-04', 'under every token of the patient');
    await facts.rememberBirthDate(patient, '1961-03-05');
    t.equal(await facts.birthDate(patient), '1961-03-05', 'the latest seen wins');
    t.equal(await facts.boundTo(weak!), undefined);
    await facts.bind(weak!, patient);
    await facts.bind(weak!, other);
    t.same(await facts.boundTo(weak!), patient, 'the first binding stays');
    await facts.bind(weak2!, other);
    // erasure: the patient's facts and every weak id bound to the patient go; others stay
    t.equal(await facts.forget(patient), patient.length + 1, 'a birth date under each token and the one binding');
    t.equal(await facts.birthDate(patient), undefined);
    t.equal(await facts.boundTo(weak!), undefined);
    t.equal(await facts.birthDate(other), '1990-01-01');
    t.same(await facts.boundTo(weak2!), other);
    t.equal(await facts.forget(patient), 0, 'nothing left to erase');
  });

  t.test('a consent naming a strong and a weak id is found by the strong one and binds the weak one', async (t) => {
    const { store, facts } = await open(t);
    const cnic = 'urn:oid:2.16.586.1.1|35202-7654321-9';
    await store.put(makeConsent({ id: 'both', patient: { reference: 'Patient/777', identifier: { system: 'urn:oid:2.16.586.1.1', value: '35202-7654321-9' } } }));
    t.equal((await store.forTokens(tokensOf(cnic))).length, 1);
    t.equal((await store.forTokens(tokensOf('Patient/777'))).length, 0, 'not by its weak local id');
    // the SQLite memory writes on the next tick; give it one
    await new Promise((r) => setImmediate(r));
    t.same(await facts.boundTo(tokensOf('Patient/777')[0]!), tokensOf(cnic));
  });

  t.test('at rest: resources and facts are ciphertext, no identifier or birth date in clear', async (t) => {
    const h = await open(t);
    const mrn = 'MRN-7766554433';
    await h.store.put(makeConsent({ id: 'private', patient: { reference: `Patient/${mrn}`, identifier: { system: 'urn:oid:2.16.586.1.1', value: '35202-7654321-9' } } }));
    await h.facts.rememberBirthDate(tokensOf(`Patient/${mrn}`), '1961-07-08');
    await new Promise((r) => setImmediate(r));
    const blobs = await h.rawBlobs();
    t.ok(blobs.length >= 3, 'the version, a binding, a birth date');
    for (const b of blobs) {
      const s = b.toString('latin1');
      t.notOk(s.includes(mrn) || s.includes('35202-7654321-9') || s.includes('1961-07-08') || s.includes('Consent'), 'sealed');
    }
  });

  t.test('a status edited in a clear column is refused and audited: the consent denies everything', async (t) => {
    const h = await open(t);
    await h.store.put(makeConsent({ id: 'edited', status: 'inactive' }));
    await h.tamperCurrentStatus('edited', 'active');
    const found = await h.second().then((n) => n.store.forTokens(tokensOf('Patient/123')));
    t.equal(found.length, 1);
    const d = evaluateConsent(found.map((c) => c.compiled), makeRequest({ defaultWhenNone: 'permit' }));
    t.equal(d.effect, 'deny');
    t.ok(h.events.some((e) => e.event === 'integrity-failure' && e.consentId === 'edited'), 'audited, naming the consent only');
  });

  t.test('a token row pointed at another patient\'s consent is refused', async (t) => {
    const h = await open(t);
    await h.store.put(makeConsent({ id: 'theirs', patient: { reference: 'Patient/else' } }));
    const [mine] = tokensOf('Patient/mine');
    await h.tamperToken(mine!, 'theirs');
    const node = await h.second();
    t.equal((await node.store.forTokens(tokensOf('Patient/else'))).length, 1, 'the rightful patient still finds it');
    t.same(await node.store.forTokens([mine!]), [], 'the forged row is not acted on');
  });

  t.test('a version whose clear status was edited fails authentication: unreadable, never acted on', async (t) => {
    const h = await open(t);
    await h.store.put(makeConsent({ id: 'v', status: 'inactive' }));
    await h.tamperVersionStatus('v', 1, 'active');
    const node = await h.second();
    await t.rejects(node.store.history('v'), ConsentUnreadableError);
    await t.rejects(node.store.get('v'), ConsentUnreadableError);
    const listed = await node.store.list();
    t.same([listed.length, listed.unreadable], [0, 1]);
    t.ok(h.events.some((e) => e.event === 'integrity-failure' && e.consentId === 'v'));
  });

  t.test('two nodes on one database: a withdrawal through one is seen by the next lookup of the other', async (t) => {
    const a = await open(t);
    const b = await a.second();
    await a.store.put(makeConsent({ id: 'shared' }));
    const tokens = tokensOf('Patient/123');
    const decide = async (s: ConsentStore) => evaluateConsent((await s.forTokens(tokens)).map((c) => c.compiled), makeRequest()).effect;
    t.equal(await decide(b.store), 'permit');
    t.equal(await decide(b.store), 'permit', 'asked twice: whatever is kept between lookups');
    await a.store.withdraw('shared', 'DELETE');
    t.equal(await decide(b.store), 'deny', 'the other node sees the withdrawal at once');
    await b.store.put(makeConsent({ id: 'fresh', patient: { reference: 'Patient/new' } }));
    t.equal((await a.store.forTokens(tokensOf('Patient/new'))).length, 1);
    t.same((await b.store.history('shared')).map((v) => v.status), ['active', 'inactive']);
    await b.store.put(makeConsent({ id: 'shared', status: 'active', provision: { type: 'permit' } }));
    t.equal((await a.store.get('shared'))!.version, 3, 'versions are numbered across nodes');
  });
}
