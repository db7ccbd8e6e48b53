/** A sender cannot make data look safer by labelling it. */
import t from 'tap';
import { classify, classifyEntries } from '../../src/classify/index.js';
import { CNIC, CONF, NOW, OBSV, codes, hivBundle, hivCondition, patient } from './helpers.js';

const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

t.test('every low-label variant is ignored for identifiability', async (t) => {
  const variants = [
    [{ system: CONF, code: 'U' }],
    [{ system: CONF, code: 'L' }],
    [{ system: OBSV, code: 'ANONYED' }],
    [{ system: OBSV, code: 'PSEUDED' }],
    [{ system: OBSV, code: 'MASKED' }],
    [{ system: OBSV, code: 'REDACTED' }],
    [{ system: ACT, code: 'DEID' }],
  ];
  for (const security of variants) {
    const c = classify(hivBundle({ meta: { security } }), { now: NOW });
    t.equal(c.identifiable, true, security[0].code);
    t.equal(c.labels[0].code, 'R', `${security[0].code}: R`);
  }
});

t.test('labels on each entry and on contained resources do not lower either', async (t) => {
  const low = { security: [{ system: CONF, code: 'L' }, { system: OBSV, code: 'ANONYED' }] };
  const bundle = {
    resourceType: 'Bundle',
    meta: low,
    entry: [{ resource: patient({ meta: low }) }, { resource: hivCondition({ meta: low, contained: [{ ...patient(), meta: low }] }) }],
  };
  const c = classify(bundle, { now: NOW });
  t.equal(c.identifiable, true);
  t.same(codes(c.labels), ['R', 'HIV']);
  for (const e of classifyEntries(bundle, { now: NOW })) t.equal(e.classification.identifiable, true, `entry ${e.index}`);
});

t.test('a sender label can only raise: V stays V, a sensitivity tag adds its category', async (t) => {
  const v = classify(hivBundle({ meta: { security: [{ system: CONF, code: 'V' }] } }), { now: NOW });
  t.same(codes(v.labels), ['V', 'HIV']);
  const psy = classify({ resourceType: 'Observation', subject: { reference: 'Patient/ali' }, meta: { security: [{ system: ACT, code: 'PSY' }] } }, { now: NOW });
  t.same(psy.categories, ['mental-health']);
  const tagInCoding = classify({ ...hivCondition(), category: [{ coding: [{ system: ACT, code: 'ETH' }] }] }, { now: NOW });
  t.same(tagInCoding.categories, ['substance-use', 'hiv-sti']);
});

t.test('a "de-identified" bundle that still carries a CNIC only in an identifier of a contained Patient', async (t) => {
  const c = classify(
    {
      resourceType: 'Observation',
      meta: { security: [{ system: CONF, code: 'L' }] },
      contained: [{ resourceType: 'Patient', id: 'x', identifier: [{ value: CNIC }] }],
      subject: { reference: '#x' },
      code: { coding: [{ system: 'http://loinc.org', code: '25836-8' }] },
    },
    { now: NOW },
  );
  t.equal(c.identifiable, true);
  t.equal(c.patient?.key, `cnic|${CNIC}`);
  t.same(codes(c.labels), ['R', 'HIV']);
});

t.test('only directory content with a low label stays non-identifiable and keeps its label', async (t) => {
  const c = classify({ resourceType: 'Organization', name: 'Shifa', meta: { security: [{ system: CONF, code: 'L' }] } }, { now: NOW });
  t.equal(c.identifiable, false);
  t.same(codes(c.labels), ['L']);
});
