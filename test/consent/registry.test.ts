import t, { type Test } from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import {
  ConsentNotFoundError,
  ConsentRegistry,
  ConsentValidationError,
  consentContext,
  requestFromContext,
  tokensForIds,
  type WithdrawInfo,
} from '../../src/consent/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { makeConsent, makeRequest, NOW, testCipher, tokenize } from '../fixtures/consents/make.js';

function clockFrom(start: Date) {
  let ms = start.getTime();
  return () => new Date((ms += 1000));
}

function open(t: Test, cipher = testCipher()) {
  const dir = t.testdir({});
  const file = join(dir, 'darwaza.db');
  const db = openDatabase(file);
  const registry = ConsentRegistry.open(db, { tokenize, cipher, clock: clockFrom(NOW) });
  t.teardown(() => {
    registry.close();
    if (db.open) db.close();
  });
  return { dir, file, db, registry, cipher };
}

const tokensOf = (...ids: string[]) => tokensForIds(ids, tokenize);

t.test('every version is kept with the time it was received', async (t) => {
  const { registry } = open(t);
  const a = registry.put(makeConsent({ id: 'c1' }));
  t.same(a, { id: 'c1', version: 1, status: 'active' });
  const b = registry.put(makeConsent({ id: 'c1', provision: { type: 'deny' } }));
  t.equal(b.version, 2);
  const h = registry.history('c1');
  t.same(h.map((v) => v.version), [1, 2]);
  t.ok(h[0]!.receivedAt < h[1]!.receivedAt);
  t.equal(h[1]!.resource.meta?.versionId, '2');
  t.equal(h[1]!.resource.meta?.lastUpdated, h[1]!.receivedAt);
  t.equal(registry.get('c1')!.version, 2);
  t.equal(registry.get('c1', 1)!.compiled.root.type, 'permit');
  t.equal(registry.get('nope'), undefined);
});

t.test('posting the same content again creates no new version', async (t) => {
  const { registry } = open(t);
  registry.put(makeConsent({ id: 'c1' }));
  const again = registry.put(makeConsent({ id: 'c1' }));
  t.same(again, { id: 'c1', version: 1, status: 'active', unchanged: true });
  t.equal(registry.history('c1').length, 1);
});

t.test('a consent without id gets one; a PUT id must agree with the body', async (t) => {
  const { registry } = open(t);
  const r = registry.put(makeConsent());
  t.match(r.id, /^[0-9a-f-]{36}$/);
  t.equal(registry.put(makeConsent(), { id: 'p1' }).id, 'p1');
  t.throws(() => registry.put(makeConsent({ id: 'x' }), { id: 'y' }), ConsentValidationError);
  t.throws(() => registry.put(makeConsent({ status: 'bogus' })), new ConsentValidationError('Consent.status', 'must be one of draft, proposed, active, rejected, inactive, entered-in-error'));
});

t.test('lookup by patient token finds the latest versions, under every id string of the patient', async (t) => {
  const { registry } = open(t);
  registry.put(makeConsent({ id: 'a', patient: { reference: 'Patient/123' } }));
  registry.put(makeConsent({ id: 'b', patient: { identifier: { system: 'http://hospital/mrn', value: '999' } } }));
  registry.put(makeConsent({ id: 'c', patient: { reference: 'Patient/other' } }));
  registry.put(makeConsent({ id: 'a', status: 'inactive' }));
  const found = registry.forTokens(tokensOf('Patient/123', 'http://hospital/mrn|999'));
  t.same(found.map((c) => [c.id, c.version, c.status]).sort(), [['a', 2, 'inactive'], ['b', 1, 'active']]);
  t.same(registry.forTokens(tokensOf('Patient/nobody')), []);
  t.same(registry.forTokens([]), []);
});

t.test('withdraw makes a new inactive version, tells listeners once, and is idempotent', async (t) => {
  const { registry } = open(t);
  const heard: [string[], string, WithdrawInfo][] = [];
  const off = registry.onWithdraw((tokens, id, info) => heard.push([tokens, id, info]));
  registry.put(makeConsent({ id: 'w', provision: { type: 'permit', purpose: [{ code: 'TREAT' }] } }));
  t.same(registry.withdraw('w', 'DELETE'), { id: 'w', version: 2 });
  t.same(registry.withdraw('w'), { id: 'w', version: 2 });
  t.equal(registry.get('w')!.status, 'inactive');
  t.equal(registry.history('w')[1]!.reason, 'DELETE');
  t.equal(heard.length, 1);
  t.same(heard[0]![0], tokensOf('Patient/123'));
  t.equal(heard[0]![1], 'w');
  t.same(heard[0]![2], { version: 2, status: 'inactive', purposes: ['TREAT', 'ETREAT'] }, 'TREAT covers ETREAT');
  t.throws(() => registry.withdraw('missing'), ConsentNotFoundError);
  // a withdrawal by a new version with status rejected is heard too
  registry.put(makeConsent({ id: 'r' }));
  registry.put(makeConsent({ id: 'r', status: 'rejected' }));
  t.equal(heard.length, 2);
  t.same(heard[1]![2].purposes, null, 'no purpose named: all purposes');
  // a research-scoped consent speaks only for research: its withdrawal must not touch treatment data
  registry.put(makeConsent({ id: 'res', scope: { coding: [{ code: 'research' }] } }));
  registry.withdraw('res');
  t.same(heard[2]![2].purposes, ['HRESCH', 'CLINTRCH']);
  off();
  registry.put(makeConsent({ id: 'z' }));
  registry.withdraw('z');
  t.equal(heard.length, 3, 'unsubscribed');
});

t.test('a withdrawn consent no longer permits at send time', async (t) => {
  const { registry } = open(t);
  registry.put(makeConsent({ id: 'send' }));
  const ctx = consentContext(
    { categories: [], labels: [], resourceTypes: ['Observation'], ageYears: 40 },
    { name: 'nhs-pk', organization: 'org-nhs' },
    'TREAT',
  );
  const tokens = tokensOf('Patient/123');
  const stored = JSON.parse(JSON.stringify(ctx));
  t.equal(registry.evaluate(tokens, requestFromContext(stored, NOW, 'deny')).effect, 'permit');
  registry.withdraw('send');
  const d = registry.evaluate(tokens, requestFromContext(stored, NOW, 'deny'));
  t.equal(d.effect, 'deny');
  t.match(d.reasons[0]!.text, /no active consent applies/);
});

t.test('the registry survives closing and reopening a real SQLite file', async (t) => {
  const { file, db, registry, cipher } = open(t);
  registry.put(makeConsent({ id: 'keep' }));
  registry.put(makeConsent({ id: 'keep', provision: { type: 'deny' } }));
  registry.close();
  db.close();
  const db2 = openDatabase(file);
  t.teardown(() => db2.close());
  const again = ConsentRegistry.open(db2, { tokenize, cipher });
  t.same(again.history('keep').map((v) => v.version), [1, 2]);
  t.equal(again.forTokens(tokensOf('Patient/123'))[0]!.compiled.root.type, 'deny');
  t.equal(again.count(), 1);
});

t.test('the database file holds no patient identifier in clear', async (t) => {
  const { dir, db, registry } = open(t);
  const mrn = 'MRN-7766554433';
  const cnic = '35202-7654321-9';
  registry.put(
    makeConsent({
      id: 'private',
      patient: { reference: `Patient/${mrn}`, identifier: { system: 'urn:oid:2.16.586.1.1', value: cnic } },
    }),
  );
  registry.withdraw('private');
  // bytes in the main file and the WAL both
  const bytes = readdirSync(dir)
    .filter((f) => f.startsWith('darwaza.db'))
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('');
  t.ok(bytes.length > 0);
  t.notOk(bytes.includes(mrn), 'no MRN');
  t.notOk(bytes.includes(cnic), 'no CNIC');
  t.notOk(bytes.includes('Patient/'), 'no patient reference at all');
  db.pragma('wal_checkpoint(TRUNCATE)');
  t.notOk(readFileSync(join(dir, 'darwaza.db')).toString('latin1').includes(mrn), 'none after checkpoint');
  t.equal(registry.forTokens(tokensOf(`Patient/${mrn}`)).length, 0, 'a consent naming a CNIC is not found by its weak local id');
  t.equal(registry.forTokens(tokensOf(`urn:oid:2.16.586.1.1|${cnic}`)).length, 1, 'and by CNIC token');
});

t.test('a consent that cannot be decrypted denies instead of vanishing', async (t) => {
  const { registry, cipher } = open(t);
  registry.put(makeConsent({ id: 'lost' }));
  registry.close(); // drop the cache
  cipher.shred('consent');
  const found = registry.forTokens(tokensOf('Patient/123'));
  t.equal(found.length, 1);
  const d = registry.evaluate(tokensOf('Patient/123'), makeRequest({ defaultWhenNone: 'permit' }));
  t.equal(d.effect, 'deny');
  t.equal(d.consentId, 'lost');
});

t.test('putMany keeps the good consents and reports the bad ones by element', async (t) => {
  const { registry } = open(t);
  const res = registry.putMany([makeConsent({ id: 'g1' }), makeConsent({ patient: undefined }), makeConsent({ id: 'g2' })]);
  t.same(res.map((r) => r.ok), [true, false, true]);
  t.equal((res[1] as { error: ConsentValidationError }).error.element, 'Consent.patient');
  t.equal(registry.count(), 2);
});

t.test('search answers a searchset Bundle of the latest versions for a patient', async (t) => {
  const { registry } = open(t);
  registry.put(makeConsent({ id: 's1' }));
  registry.put(makeConsent({ id: 's2', status: 'inactive' }));
  registry.put(makeConsent({ id: 's3', patient: { reference: 'Patient/else' } }));
  const b = registry.search({ patientIds: ['123'] }) as unknown as { type: string; total: number; entry: { fullUrl: string }[] };
  t.equal(b.type, 'searchset');
  t.equal(b.total, 2);
  t.same(b.entry.map((e) => e.fullUrl).sort(), ['Consent/s1', 'Consent/s2']);
  t.equal((registry.search({ patientIds: ['Patient/123'], status: 'active' }) as unknown as { total: number }).total, 1);
});

t.test('without a cipher the registry does not open: nothing is stored or read in clear', async (t) => {
  const dir = t.testdir({});
  const db = openDatabase(join(dir, 'p.db'));
  t.teardown(() => db.close());
  t.throws(() => ConsentRegistry.open(db, { tokenize } as unknown as Parameters<typeof ConsentRegistry.open>[1]), /cipher is required/);
});

t.test('a change committed by another connection (the CLI) is seen at the next lookup', async (t) => {
  const { file, registry, cipher } = open(t);
  registry.put(makeConsent({ id: 'shared' }));
  const tokens = tokensOf('Patient/123');
  t.equal(registry.evaluate(tokens, makeRequest()).effect, 'permit');
  t.equal(registry.forTokens(tokensOf('Patient/new')).length, 0, 'a miss is cached too');
  const other = openDatabase(file);
  t.teardown(() => other.close());
  const cli = ConsentRegistry.open(other, { tokenize, cipher });
  cli.put(makeConsent({ id: 'shared', status: 'inactive' }));
  cli.put(makeConsent({ id: 'fresh', patient: { reference: 'Patient/new' } }));
  t.equal(registry.evaluate(tokens, makeRequest()).effect, 'deny');
  t.equal(registry.forTokens(tokensOf('Patient/new')).length, 1);
});

t.test('every stored version is audited in its transaction, without PHI; a failing listener changes nothing', async (t) => {
  const dir = t.testdir({});
  const db = openDatabase(join(dir, 'a.db'));
  t.teardown(() => db.close());
  const events: AuditEvent[] = [];
  const registry = ConsentRegistry.open(db, { tokenize, cipher: testCipher(), audit: { append: (e) => void events.push(...e) } });
  registry.onWithdraw(() => {
    throw new Error('listener broke');
  });
  registry.put(makeConsent({ id: 'au', patient: { reference: 'Patient/PHI-42' } }));
  t.same(registry.withdraw('au', 'DELETE'), { id: 'au', version: 2 });
  t.same(events.map((e) => [e.event, e.consentId, e.consentVersion]), [['admin-action', 'au', '1'], ['consent-withdrawn', 'au', '2']]);
  t.equal(events[1]!.reason, 'consent withdrawn (status inactive, DELETE)');
  t.equal(events[0]!.patientToken, tokensOf('Patient/PHI-42')[0]);
  t.notMatch(JSON.stringify(events), /PHI-42/);
  t.equal(registry.get('au')!.status, 'inactive');
});

t.test('a new version may add identifiers of the patient but not move the consent to another patient', async (t) => {
  const { registry } = open(t);
  registry.put(makeConsent({ id: 'same', patient: { reference: 'Patient/123' } }));
  const more = registry.put(makeConsent({ id: 'same', patient: { reference: 'Patient/123', identifier: { system: 'http://hospital/mrn', value: '5' } } }));
  t.equal(more.version, 2);
  t.equal(registry.forTokens(tokensOf('http://hospital/mrn|5')).length, 1);
  t.throws(
    () => registry.put(makeConsent({ id: 'same', patient: { reference: 'Patient/someone-else' } })),
    new ConsentValidationError('Consent.patient', 'a new version must be about the same patient (post a new Consent instead)'),
  );
  t.equal(registry.get('same')!.version, 2);
});

t.test('an unknown timezone is refused when the registry opens', async (t) => {
  const db = openDatabase(':memory:');
  t.teardown(() => db.close());
  t.throws(() => ConsentRegistry.open(db, { tokenize, cipher: testCipher(), timezone: 'Mars/Olympus' }), /consent timezone "Mars\/Olympus"/);
  t.ok(ConsentRegistry.open(db, { tokenize, cipher: testCipher(), timezone: '+05:00' }));
});
