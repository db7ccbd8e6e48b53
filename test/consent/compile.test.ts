import t, { type Test } from 'tap';
import { compileConsent, ConsentValidationError, MAX_PROVISION_DEPTH } from '../../src/consent/index.js';
import { makeConsent } from '../fixtures/consents/make.js';

/** Asserts that compiling `resource` throws ConsentValidationError naming `element`. */
function rejects(t: Test, resource: unknown, element: string, why: string) {
  try {
    compileConsent(resource);
    t.fail(`${why}: accepted`);
  } catch (err) {
    t.type(err, ConsentValidationError, why);
    t.equal((err as ConsentValidationError).element, element, why);
  }
}

t.test('a well-formed consent compiles', async (t) => {
  const c = compileConsent(makeConsent({ id: 'abc' }));
  t.equal(c.id, 'abc');
  t.equal(c.root.type, 'permit');
  t.same(c.scopes, ['patient-privacy']);
});

t.test('a resource that is not a Consent is refused naming resourceType', async (t) => {
  rejects(t, makeConsent({ resourceType: 'Patient' }), 'Consent.resourceType', 'wrong resourceType');
  rejects(t, 'not json object', 'Consent', 'a string');
  rejects(t, [makeConsent()], 'Consent', 'an array');
});

t.test('a missing or unusable patient is refused naming Consent.patient', async (t) => {
  rejects(t, makeConsent({ patient: undefined }), 'Consent.patient', 'missing');
  rejects(t, makeConsent({ patient: { display: 'someone' } }), 'Consent.patient', 'display only');
  rejects(t, makeConsent({ patient: { reference: 'Group/1' } }), 'Consent.patient', 'not a patient');
  rejects(t, makeConsent({ patient: { identifier: { system: 'urn:x' } } }), 'Consent.patient.identifier.value', 'identifier without value');
  rejects(t, makeConsent({ patient: 'Patient/1' }), 'Consent.patient', 'not a Reference');
});

t.test('unknown and missing statuses are refused naming Consent.status', async (t) => {
  rejects(t, makeConsent({ status: 'revoked' }), 'Consent.status', 'unknown');
  rejects(t, makeConsent({ status: undefined }), 'Consent.status', 'missing');
});

t.test('bad dates are refused naming the exact element', async (t) => {
  rejects(t, makeConsent({ provision: { type: 'permit', period: { start: '2026-02-30' } } }), 'Consent.provision.period.start', 'no 30 Feb');
  rejects(t, makeConsent({ provision: { type: 'permit', period: { start: '2026-01-01T10:00:00' } } }), 'Consent.provision.period.start', 'time without offset');
  rejects(t, makeConsent({ provision: { type: 'permit', period: { end: '01/02/2026' } } }), 'Consent.provision.period.end', 'not ISO');
  rejects(t, makeConsent({ provision: { type: 'permit', period: { start: '2026-05-01', end: '2026-04-01' } } }), 'Consent.provision.period.start', 'start after end');
  rejects(t, makeConsent({ dateTime: '2026-13-01' }), 'Consent.dateTime', 'month 13');
  rejects(
    t,
    makeConsent({ provision: { type: 'permit', provision: [{ type: 'deny', dataPeriod: { start: 20260101 } }] } }),
    'Consent.provision.provision[0].dataPeriod.start',
    'a number',
  );
  rejects(t, makeConsent({ provision: { type: 'permit', period: { start: '2026-01-01T25:00:00Z' } } }), 'Consent.provision.period.start', 'hour 25');
});

t.test('unknown elements are refused naming them', async (t) => {
  rejects(t, makeConsent({ provision: { type: 'permit', purposes: [] } }), 'Consent.provision.purposes', 'typo in provision');
  rejects(t, makeConsent({ provision: { type: 'permit', provision: [{ type: 'deny', decision: 'deny' }] } }), 'Consent.provision.provision[0].decision', 'R5 element in R4');
  rejects(t, makeConsent({ decision: 'permit' }), 'Consent.decision', 'R5 element at the top');
  rejects(t, makeConsent({ provision: { type: 'permit', period: { start: '2026-01-01', when: 'x' } } }), 'Consent.provision.period.when', 'in a Period');
  rejects(t, makeConsent({ modifierExtension: [{ url: 'urn:x' }] }), 'Consent.modifierExtension', 'modifier extension');
});

t.test('provision types and shapes are checked', async (t) => {
  rejects(t, makeConsent({ provision: { type: 'allow' } }), 'Consent.provision.type', 'bad type');
  rejects(t, makeConsent({ provision: { period: { start: '2026-01-01' } } }), 'Consent.provision.type', 'root without type or policyRule');
  rejects(t, makeConsent({ provision: { type: 'permit', provision: [{ purpose: [{ code: 'TREAT' }] }] } }), 'Consent.provision.provision[0].type', 'nested without type');
  rejects(t, makeConsent({ provision: { type: 'permit', actor: [] } }), 'Consent.provision.actor', 'empty array');
  rejects(t, makeConsent({ provision: { type: 'permit', actor: [{ role: { coding: [{ code: 'IRCP' }] } }] } }), 'Consent.provision.actor[0].reference', 'actor without reference');
  rejects(t, makeConsent({ provision: { type: 'permit', securityLabel: [{ system: 'x' }] } }), 'Consent.provision.securityLabel[0].code', 'label without code');
  rejects(t, makeConsent({ provision: { type: 'permit', data: [{ meaning: 'all', reference: { reference: 'Observation/1' } }] } }), 'Consent.provision.data[0].meaning', 'bad meaning');
  rejects(t, makeConsent({ provision: { type: 'permit', action: [{ text: 'share' }] } }), 'Consent.provision.action[0].coding', 'action without code');
  rejects(t, makeConsent({ provision: undefined }), 'Consent.provision', 'no provision and no policyRule');
  rejects(t, makeConsent({ scope: undefined }), 'Consent.scope', 'no scope');
  rejects(t, makeConsent({ category: [] }), 'Consent.category', 'no category');
  rejects(t, makeConsent({ id: 'has space' }), 'Consent.id', 'bad id');
});

t.test('nesting deeper than the limit is refused', async (t) => {
  let p: Record<string, unknown> = { type: 'deny' };
  for (let i = 0; i < MAX_PROVISION_DEPTH + 1; i++) p = { type: i % 2 ? 'deny' : 'permit', provision: [p] };
  try {
    compileConsent(makeConsent({ provision: p }));
    t.fail('accepted');
  } catch (err) {
    t.type(err, ConsentValidationError);
    t.match((err as ConsentValidationError).message, /deeper than 16/);
  }
});

t.test('error messages never repeat the offending value', async (t) => {
  try {
    compileConsent(makeConsent({ patient: { reference: 'Group/cnic-12345-1234567-1' } }));
    t.fail('accepted');
  } catch (err) {
    t.notMatch((err as Error).message, /12345/);
  }
  try {
    compileConsent(makeConsent({ provision: { type: 'permit', period: { start: 'cnic-12345' } } }));
    t.fail('accepted');
  } catch (err) {
    t.notMatch((err as Error).message, /12345/);
  }
});

t.test('a RelatedPerson performer is noted; categories named by a provision are collected', async (t) => {
  const c = compileConsent(
    makeConsent({
      performer: [{ reference: 'RelatedPerson/m' }],
      provision: { type: 'deny', provision: [{ type: 'permit', securityLabel: [{ code: 'PSY' }], class: [{ code: 'HIV' }], code: [{ coding: [{ code: 'GDIS' }] }] }] },
    }),
  );
  t.equal(c.guardianPerformer, true);
  t.same(c.root.children[0]!.namesCategories.sort(), ['genetics', 'hiv-sti', 'mental-health']);
});

t.test('mangled consents never crash: each is accepted or refused with a ConsentValidationError', async (t) => {
  // A seeded generator, so a failure can be replayed.
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const junk = [null, 0, -1, 1.5, '', 'x', true, [], [null], {}, { code: 5 }, [{}], '2026-99-99', { reference: 7 }, [[]]];
  const base = makeConsent({
    performer: [{ reference: 'RelatedPerson/1' }],
    provision: {
      type: 'permit',
      period: { start: '2026-01-01' },
      actor: [{ role: { coding: [{ code: 'IRCP' }] }, reference: { reference: 'Organization/a' } }],
      provision: [{ type: 'deny', securityLabel: [{ code: 'R' }], data: [{ meaning: 'instance', reference: { reference: 'Observation/1' } }], dataPeriod: { end: '2025' } }],
    },
  });
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(base, []);
  let refused = 0;
  for (let n = 0; n < 2000; n++) {
    const copy = JSON.parse(JSON.stringify(base));
    for (let m = 0; m < 1 + Math.floor(rnd() * 3); m++) {
      const p = paths[1 + Math.floor(rnd() * (paths.length - 1))]!;
      let o = copy;
      for (const k of p.slice(0, -1)) o = o?.[k];
      if (o && typeof o === 'object') {
        if (rnd() < 0.3) delete o[p.at(-1)!];
        else o[p.at(-1)!] = junk[Math.floor(rnd() * junk.length)];
      }
    }
    try {
      compileConsent(copy);
    } catch (err) {
      if (!(err instanceof ConsentValidationError)) {
        t.fail(`crashed with ${(err as Error).name}: ${(err as Error).message} on ${JSON.stringify(copy)}`);
        return;
      }
      refused++;
    }
  }
  t.ok(refused > 1000, `most mangled consents are refused (${refused}/2000)`);
});
