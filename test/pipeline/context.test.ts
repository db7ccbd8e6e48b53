import t from 'tap';
import {
  createPipeline,
  createRecheck,
  itemContextOf,
  parseItemContext,
  parseStoredOutcomes,
  PASS_THROUGH_STAGES,
  StoredContextError,
  type ConsentCheck,
  type Stages,
} from '../../src/pipeline/index.js';
import type { Classification } from '../../src/model/index.js';
import { memoryStore } from '../helpers/memory-store.js';
import { testConfig } from '../helpers/config.js';

const CLS: Classification = {
  patient: { key: 'Patient/p1', ids: ['Patient/p1'] },
  ageYears: 40,
  categories: ['mental-health'],
  labels: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' }],
  resourceTypes: ['Observation'],
  identifiable: true,
};
const OBS = { resourceType: 'Observation', id: 'o1', status: 'final', effectiveDateTime: '2026-03-01' };
const NOW = new Date('2026-11-20T10:00:00Z');

const requireConsent: Stages['decide'] = (i) => ({ ...PASS_THROUGH_STAGES.decide(i), obligations: [{ kind: 'require-consent', ruleId: 'r1' }] });

t.test('ingest writes a versioned context without the patient, and parseItemContext reads it back', async (t) => {
  const store = memoryStore();
  const p = createPipeline({ config: testConfig(), store, stages: { ...PASS_THROUGH_STAGES, classify: () => structuredClone(CLS) }, clock: () => NOW });
  await p.ingest({ resource: OBS, source: 'lan', purpose: 'TREAT', format: 'fhir' });
  const text = store.writes[0].items[0].context;
  t.notMatch(text, /Patient\/p1/, 'no patient reference is stored');
  const ctx = parseItemContext(text);
  t.equal(ctx.v, 1);
  t.equal(ctx.purpose, 'TREAT');
  t.same(ctx.classification.categories, ['mental-health']);
  t.same(ctx.classification.labels, [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }]);
});

t.test('a context stored before versioning (no v) reads as version 1', async (t) => {
  const { v: _v, ...old } = itemContextOf({ purpose: 'TREAT', source: 'lan', classification: CLS, consentRequired: true, policySha256: 'a'.repeat(64) });
  const ctx = parseItemContext(JSON.stringify(old));
  t.equal(ctx.v, 1);
  t.equal(ctx.consentRequired, true);
});

t.test('an unknown version and bad shapes are refused with the field named, never the value', async (t) => {
  const good = itemContextOf({ purpose: 'TREAT', source: 'lan', classification: CLS, consentRequired: false, policySha256: 'a'.repeat(64) });
  t.throws(() => parseItemContext(JSON.stringify({ ...good, v: 2 })), { name: 'StoredContextError', message: /version 2 is not known/ });
  t.throws(() => parseItemContext('{not json'), StoredContextError);
  t.throws(() => parseItemContext('[]'), StoredContextError);
  t.throws(() => parseItemContext(JSON.stringify({ ...good, purpose: 'SELLING' })), { message: /"purpose"/ });
  t.throws(() => parseItemContext(JSON.stringify({ ...good, classification: { ...good.classification, categories: ['astrology'] } })), { message: /classification\.categories/ });
  t.throws(() => parseItemContext(JSON.stringify({ ...good, classification: { ...good.classification, ageYears: '40' } })), { message: /ageYears/ });
  t.throws(() => parseItemContext(JSON.stringify({ ...good, consentRequired: 'yes' })), { message: /consentRequired/ });
  const err = (() => {
    try {
      parseItemContext(JSON.stringify({ ...good, source: { secret: 'Ayesha Khan' } }));
    } catch (e) {
      return e as Error;
    }
  })();
  t.notMatch(err?.message, /Ayesha/, 'the stored value is not repeated in the error');
});

t.test('stored outcomes read back with their facts; malformed ones are refused', async (t) => {
  const store = memoryStore();
  const p = createPipeline({ config: testConfig(), store, stages: { ...PASS_THROUGH_STAGES, classify: () => structuredClone(CLS) }, clock: () => NOW });
  await p.ingest({ resource: OBS, source: 'lan', purpose: 'TREAT', format: 'fhir' });
  const outcomes = parseStoredOutcomes(JSON.parse(store.writes[0].message.outcomes));
  t.equal(outcomes[0].decision, 'queued');
  t.same(outcomes[0].facts?.categories, ['mental-health']);
  t.equal(outcomes[0].facts?.ageYears, 40);
  t.throws(() => parseStoredOutcomes({}), StoredContextError);
  t.throws(() => parseStoredOutcomes([{ name: 'x', decision: 'maybe', reasons: [] }]), { message: /"decision"/ });
  t.same(parseStoredOutcomes([{ name: 'x', decision: 'denied', reasons: ['no route'] }]), [{ name: 'x', decision: 'denied', reasons: ['no route'] }], 'an outcome without facts reads');
});

t.test('the consent request asked at arrival is the one asked again at send time', async (t) => {
  const asked: ConsentCheck[] = [];
  const stages: Stages = {
    ...PASS_THROUGH_STAGES,
    classify: () => structuredClone(CLS),
    tokenize: (id) => `tok-${id.length}`,
    patientTokens: (ids) => ids.map((id) => `tok-${id.length}`),
    dataPeriod: () => ({ start: '2026-03-01', end: '2026-03-01' }),
    decide: requireConsent,
    checkConsent: (c) => (asked.push(c), { effect: 'permit', reasons: [{ text: 'ok' }], obligations: [] }),
  };
  const config = testConfig((c) => (c.timezone = 'Asia/Karachi'));
  const store = memoryStore();
  const p = createPipeline({ config, store, stages, clock: () => NOW });
  await p.ingest({ resource: OBS, source: 'lan', purpose: 'TREAT', format: 'fhir' });
  t.equal(asked.length, 1, 'asked once at arrival');
  const item = store.writes[0].items[0];
  const recheck = createRecheck({ stages, destinations: config.destinations, timezone: config.timezone, clock: () => NOW });
  t.same(recheck(item), { kind: 'ok' });
  t.equal(asked.length, 2, 'and once at send time');
  t.same(asked[1], asked[0], 'the same question, from the stored facts');
  t.equal(asked[0].request.timezone, 'Asia/Karachi', 'with the configured timezone');
  t.equal(asked[0].request.defaultWhenNone, 'deny', 'and the destination consent model (opt-in)');
});

t.test('the send-time re-check withdraws what the policy or the consents no longer allow', async (t) => {
  const config = testConfig();
  const item = {
    messageId: 'm1',
    destination: config.destinations[0].name,
    patientTokens: ['tok'],
    context: JSON.stringify(itemContextOf({ purpose: 'TREAT', source: 'lan', classification: CLS, consentRequired: true, policySha256: 'a'.repeat(64) })),
  };
  const deny: Stages['decide'] = (i) => ({ ...PASS_THROUGH_STAGES.decide(i), effect: 'deny', reasons: [{ text: 'no longer allowed' }] });
  const byPolicy = createRecheck({ stages: { ...PASS_THROUGH_STAGES, decide: deny }, destinations: config.destinations, timezone: config.timezone, clock: () => NOW })(item);
  t.equal(byPolicy.kind, 'withdraw');
  t.match(byPolicy.kind === 'withdraw' ? byPolicy.reason : '', /now denies: no longer allowed/);
  t.equal(byPolicy.kind === 'withdraw' ? byPolicy.audit?.[0].event : '', 'purged');

  const withdrawn = createRecheck({
    stages: { ...PASS_THROUGH_STAGES, checkConsent: () => ({ effect: 'deny', consentId: 'c1', consentVersion: '2', reasons: [{ text: 'withdrawn' }], obligations: [] }) },
    destinations: config.destinations,
    timezone: config.timezone,
    clock: () => NOW,
  })(item);
  t.equal(withdrawn.kind, 'withdraw');
  t.equal(withdrawn.kind === 'withdraw' ? withdrawn.audit?.[0].consentId : '', 'c1');

  const unknown = createRecheck({ stages: PASS_THROUGH_STAGES, destinations: config.destinations, timezone: config.timezone, clock: () => NOW });
  t.throws(() => unknown({ ...item, context: JSON.stringify({ ...JSON.parse(item.context), v: 7 }) }), StoredContextError, 'an unknown version is not guessed at');
});
