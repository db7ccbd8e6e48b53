import t from 'tap';
import { createPipeline, PASS_THROUGH_STAGES, route, type Stages } from '../../src/pipeline/index.js';
import { OperationOutcomeError } from '../../src/fhir/index.js';
import { memoryStore } from '../helpers/memory-store.js';
import { testConfig } from '../helpers/config.js';

const obs = (id: string) => ({ resourceType: 'Observation', id, status: 'final' });

t.test('routes unite the destinations of every matching route', async (t) => {
  const routes = [
    { name: 'a', match: { purpose: ['TREAT' as const] }, destinations: ['x'], opaque: false },
    { name: 'b', match: { resourceTypes: ['Observation'] }, destinations: ['y'], opaque: false },
    { name: 'c', match: { format: ['hl7v2' as const] }, destinations: ['z'], opaque: true },
  ];
  t.same(route(routes, { format: 'fhir', purpose: 'TREAT', resourceTypes: ['Observation'], source: 's' }).destinations, ['x', 'y']);
  t.same(route(routes, { format: 'fhir', purpose: 'HRESCH', resourceTypes: ['Patient'], source: 's' }).destinations, []);
  const v2 = route(routes, { format: 'hl7v2', purpose: 'HRESCH', resourceTypes: [], source: 's' });
  t.same(v2.destinations, ['z']);
  t.equal(v2.opaque, true);
});

t.test('a message no route matches is refused with 422', async (t) => {
  const p = createPipeline({ config: testConfig(), store: memoryStore(), stages: PASS_THROUGH_STAGES });
  const err = await p.ingest({ resource: obs('1'), source: 'lan', purpose: 'HRESCH', format: 'fhir' }).then(() => undefined, (e: OperationOutcomeError) => e);
  t.equal(err?.status, 422);
});

t.test('ETREAT goes to the emergency lane and the item carries no patient identity', async (t) => {
  const store = memoryStore();
  const stages: Stages = {
    ...PASS_THROUGH_STAGES,
    classify: () => ({ patient: { key: 'Patient/p1', ids: ['Patient/p1'] }, ageYears: 40, categories: [], labels: [], resourceTypes: ['Observation'], identifiable: true }),
    tokenize: (id) => `tok(${id.length})`,
    patientTokens: (ids) => ids.map((id) => `tok(${id.length})`),
  };
  const p = createPipeline({ config: testConfig(), store, stages });
  await p.ingest({ resource: obs('1'), source: 'lan', purpose: 'ETREAT', format: 'fhir' });
  const item = store.writes[0].items[0];
  t.equal(item.lane, 'emergency');
  t.same(item.patientTokens, ['tok(10)']);
  t.notMatch(item.context, /Patient\/p1/, 'context keeps no patient reference');
  t.notMatch(JSON.stringify(store.writes[0].audit), /Patient\/p1/, 'audit keeps no patient reference');
  // One leaf per destination decision: the permit records the receipt and the queueing too.
  t.same(store.writes[0].audit.map((a) => a.event), ['decided']);
  t.match(store.writes[0].audit[0], { decision: 'permit', source: 'lan', purpose: 'ETREAT', destination: 'national-telemed', patientToken: 'tok(10)' });
});

t.test('a policy deny queues nothing for that destination and says why', async (t) => {
  const store = memoryStore();
  const stages: Stages = {
    ...PASS_THROUGH_STAGES,
    decide: (i) => ({ ...PASS_THROUGH_STAGES.decide(i), effect: 'deny', ruleIds: ['no-foreign'], reasons: [{ ruleId: 'no-foreign', text: 'identifiable data stays in Pakistan' }] }),
  };
  const p = createPipeline({ config: testConfig(), store, stages });
  const r = await p.ingest({ resource: obs('1'), source: 'lan', purpose: 'TREAT', format: 'fhir' });
  t.equal((r as any).answer.destinations[0].decision, 'denied');
  t.same((r as any).answer.destinations[0].reasons, ['identifiable data stays in Pakistan']);
  t.equal(store.writes[0].items.length, 0);
  t.equal(store.writes[0].audit.find((a) => a.event === 'decided')?.decision, 'deny');
});

t.test('a denied consent denies the destination; a transform failure fails closed', async (t) => {
  const store = memoryStore();
  const base = PASS_THROUGH_STAGES;
  const requireConsent: Stages['decide'] = (i) => ({ ...base.decide(i), obligations: [{ kind: 'require-consent', ruleId: 'r1' }] });
  const p1 = createPipeline({
    config: testConfig(),
    store,
    stages: {
      ...base,
      // A patient is known, so the registry is asked (without one, consent cannot be looked up at all).
      classify: (r, now) => ({ ...base.classify(r, now), patient: { key: 'Patient/p1', ids: ['Patient/p1'] } }),
      decide: requireConsent,
      checkConsent: () => ({ effect: 'deny', consentId: 'c1', consentVersion: '2', reasons: [{ text: 'the patient withdrew consent' }], obligations: [] }),
    },
  });
  const r1 = await p1.ingest({ resource: obs('1'), source: 'lan', purpose: 'TREAT', format: 'fhir' });
  t.equal((r1 as { answer: any }).answer.destinations[0].decision, 'denied');
  t.same((r1 as { answer: any }).answer.destinations[0].consent, { id: 'c1', version: '2', effect: 'deny' });

  const p2 = createPipeline({
    config: testConfig(),
    store,
    stages: {
      ...base,
      decide: (i) => ({ ...base.decide(i), obligations: [{ kind: 'sanitize', profile: 'pk-research', ruleId: 'r2' }] }),
      sanitize: () => {
        throw new Error('boom');
      },
    },
  });
  const r2 = await p2.ingest({ resource: obs('1'), source: 'lan', purpose: 'TREAT', format: 'fhir' });
  t.equal((r2 as { answer: any }).answer.destinations[0].decision, 'denied');
  t.match((r2 as { answer: any }).answer.destinations[0].reasons[0], /could not prepare/);
});

t.test('a transaction with one denied entry is rejected whole with 422 naming the entry', async (t) => {
  const store = memoryStore();
  const stages: Stages = {
    ...PASS_THROUGH_STAGES,
    classifyEntries: (b) => {
      const entries = b.entry as { resource: { id: string } }[];
      return entries.map((e) => ({
        patient: null,
        ageYears: null,
        categories: e.resource.id === 'bad' ? (['mental-health'] as const).slice() : [],
        labels: [],
        resourceTypes: ['Observation'],
        identifiable: true,
      }));
    },
    decide: (i) => ({ ...PASS_THROUGH_STAGES.decide(i), effect: i.classification.categories.length ? 'deny' : 'permit', ruleIds: ['r-psy'], reasons: [{ text: 'needs consent' }] }),
  };
  const p = createPipeline({ config: testConfig(), store, stages });
  const tx = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: obs('ok') }, { resource: obs('bad') }] };
  try {
    await p.ingest({ resource: tx, source: 'lan', purpose: 'TREAT', format: 'fhir' });
    t.fail('should reject');
  } catch (err) {
    t.ok(err instanceof OperationOutcomeError);
    const e = err as OperationOutcomeError;
    t.equal(e.status, 422);
    t.same(e.result.outcome.issue[0].expression, ['Bundle.entry[1]']);
    t.match(e.result.outcome.issue[0].details?.text ?? '', /r-psy/);
  }
  // Nothing is queued, but the rejection is audited: one 'decided' deny per destination, with the reasons.
  t.equal(store.writes.length, 1, 'one write: the audit of the rejection');
  t.equal(store.writes[0].items.length, 0, 'nothing queued');
  const decided = store.writes[0].audit.filter((a) => a.event === 'decided');
  t.equal(decided.length, testConfig().destinations.length, 'one decided entry per destination');
  t.ok(decided.every((a) => a.decision === 'deny' && /transaction rejected: .*r-psy/.test(a.reason ?? '')), 'denied, naming the rule');
  t.equal(store.writes[0].idempotency, undefined, 'no idempotency record: a retry is judged again');
});

t.test('a batch is judged entry by entry, each with an outcome', async (t) => {
  const store = memoryStore();
  const stages: Stages = {
    ...PASS_THROUGH_STAGES,
    classify: (r) => ({ patient: null, ageYears: null, categories: r.id === 'bad' ? ['mental-health'] : [], labels: [], resourceTypes: [r.resourceType], identifiable: true }),
    decide: (i) => ({ ...PASS_THROUGH_STAGES.decide(i), effect: i.classification.categories.length ? 'deny' : 'permit', reasons: [{ text: 'x' }] }),
  };
  const p = createPipeline({ config: testConfig(), store, stages });
  const batch = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: obs('ok') }, { resource: obs('bad') }] };
  const r = await p.ingest({ resource: batch, source: 'lan', purpose: 'TREAT', format: 'fhir', idempotencyKey: 'k' });
  t.equal((r.kind === 'accepted' ? r.answer : ({} as never)).entries?.length, 2);
  t.same((r.kind === 'accepted' ? r.answer : ({} as never)).entries!.map((e) => e.destinations[0].decision), ['queued', 'denied']);
  t.same((r.kind === 'accepted' ? r.answer : ({} as never)).entries!.map((e) => e.outcome.issue[0].severity), ['information', 'warning']);
  t.equal(store.writes.length, 2, 'one message per entry');
  const again = await p.ingest({ resource: batch, source: 'lan', purpose: 'TREAT', format: 'fhir', idempotencyKey: 'k' });
  t.equal(again.kind, 'duplicate');
  t.equal(again.kind === 'duplicate' && JSON.parse(again.stored).id, r.kind === 'accepted' && r.answer.id, 'the retried batch gets the whole first answer');
});

t.test('a transaction denied for one destination still goes, whole, to the others', async (t) => {
  const store = memoryStore();
  const config = testConfig((c) => {
    c.destinations.push({ ...c.destinations[0], name: 'foreign-research', country: 'DE', kind: 'research' });
    c.routes[0].destinations.push('foreign-research');
  });
  const stages: Stages = {
    ...PASS_THROUGH_STAGES,
    classifyEntries: (b) => (b.entry as unknown[]).map(() => PASS_THROUGH_STAGES.classify({ resourceType: 'Observation' }, new Date())),
    decide: (i) => ({ ...PASS_THROUGH_STAGES.decide(i), effect: i.destinationName === 'foreign-research' ? 'deny' : 'permit', ruleIds: ['stay-in-pk'], reasons: [{ text: 'identifiable data stays in Pakistan' }] }),
  };
  const p = createPipeline({ config, store, stages });
  const tx = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: obs('a') }, { resource: obs('b') }] };
  const r = (await p.ingest({ resource: tx, source: 'lan', purpose: 'TREAT', format: 'fhir' })) as { answer: any };
  t.same(r.answer.destinations.map((d: any) => [d.name, d.decision]), [['national-telemed', 'queued'], ['foreign-research', 'denied']]);
  t.match(r.answer.destinations[1].reasons[0], /all or nothing: entry 0 may not go to foreign-research/);
  t.same(store.writes[0].items.map((i) => i.destination), ['national-telemed']);
});
