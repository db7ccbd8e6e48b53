import t, { type Test } from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import {
  ConsentRegistry,
  PatientMemory,
  applyPatientWrites,
  loadPatientSnapshot,
  resolvePatientTokens,
  snapshotBindings,
  sqliteConsentStore,
  sqlitePatientFacts,
  tokensForIds,
  type PatientWrite,
} from '../../src/consent/index.js';
import { makeConsent, testCipher, tokenize } from '../fixtures/consents/make.js';

function open(t: Test) {
  const db = openDatabase(join(t.testdir({}), 'darwaza.db'));
  const cipher = testCipher();
  const registry = ConsentRegistry.open(db, { tokenize, cipher });
  const memory = PatientMemory.open(db, { cipher });
  t.teardown(() => {
    registry.close();
    memory.close();
    if (db.open) db.close();
  });
  return { store: sqliteConsentStore(registry), facts: sqlitePatientFacts(memory), registry, memory };
}

t.test('the async consent store answers what the registry answers', async (t) => {
  const { store, registry } = open(t);
  t.same(await store.put(makeConsent({ id: 'c1' })), { id: 'c1', version: 1, status: 'active' });
  t.equal(await store.count(), 1);
  t.equal((await store.get('c1'))?.id, 'c1');
  const withdrawn: string[] = [];
  store.onWithdraw((_tokens, id) => withdrawn.push(id));
  await store.withdraw('c1', 'asked');
  t.same(withdrawn, ['c1']);
  t.equal((await store.history('c1')).length, 2);
  t.same(await store.list(), registry.list());
});

t.test('a snapshot carries consents and bindings; what the decision learned is written at the edge', async (t) => {
  const { store, facts } = open(t);
  await store.put(makeConsent({ id: 'c1' }));
  const tokens = tokensForIds(['Patient/123'], tokenize);
  const [weak] = tokensForIds(['urn:weak|w1'], tokenize);
  const snap = await loadPatientSnapshot(store, facts, tokens, [weak!]);
  t.equal(snap.consents.length, 1);
  t.equal(snap.bindings.get(weak!), undefined);
  const writes: PatientWrite[] = [];
  const resolved = resolvePatientTokens({ strong: [...tokens], weak: [weak!], other: [] }, snapshotBindings(snap, writes));
  t.ok(resolved.includes(weak!));
  t.same(writes, [{ kind: 'bind', weakToken: weak, strongTokens: [...tokens] }]);
  t.equal(await facts.boundTo(weak!), undefined, 'nothing written before the edge');
  writes.push({ kind: 'birthDate', tokens: [...tokens], birthDate: '1970-01-01' });
  await applyPatientWrites(facts, writes);
  t.same(await facts.boundTo(weak!), [...tokens]);
  t.equal(await facts.birthDate(tokens), '1970-01-01');
  // a withdrawal is seen by the next snapshot: no cache between them
  await store.withdraw('c1');
  const next = await loadPatientSnapshot(store, facts, tokens);
  t.equal(next.consents[0]?.status, 'inactive');
});
