import t from 'tap';
import { compileConsent, consentPurposes, evaluateConsent, type CompiledConsent } from '../../src/consent/index.js';
import { makeConsent, makeRequest, NOW } from '../fixtures/consents/make.js';

let n = 0;
const c = (overrides: Parameters<typeof makeConsent>[0] = {}, id = `c${++n}`): CompiledConsent =>
  compileConsent(makeConsent(overrides), { id, version: 1 });
const root = (p: Record<string, unknown>) => ({ provision: { type: 'permit', ...p } });
const denyRoot = (p: Record<string, unknown>) => ({ provision: { type: 'deny', ...p } });
const labelPSY = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' };

t.test('a general permit permits and names the consent, version and provision', async (t) => {
  const d = evaluateConsent([c({}, 'general')], makeRequest());
  t.equal(d.effect, 'permit');
  t.equal(d.outcome, 'permit');
  t.equal(d.consentId, 'general');
  t.equal(d.consentVersion, '1');
  t.equal(d.provisionPath, 'provision');
  t.match(d.reasons[0]!.text, /Observation: permitted by consent general \(version 1\) at provision \(permit\)/);
});

t.test('a root deny denies', async (t) => {
  const d = evaluateConsent([c(denyRoot({}))], makeRequest());
  t.equal(d.effect, 'deny');
  t.equal(d.provisionPath, 'provision');
});

t.test('no consent: the destination default decides (opt-in denies, opt-out permits)', async (t) => {
  const optIn = evaluateConsent([], makeRequest({ defaultWhenNone: 'deny' }));
  t.equal(optIn.effect, 'deny');
  t.equal(optIn.consentId, undefined);
  t.match(optIn.reasons[0]!.text, /default is deny \(opt-in\)/);
  const optOut = evaluateConsent([], makeRequest({ defaultWhenNone: 'permit' }));
  t.equal(optOut.effect, 'permit');
});

t.test('only active consents count', async (t) => {
  for (const status of ['draft', 'proposed', 'inactive', 'rejected', 'entered-in-error']) {
    t.equal(evaluateConsent([c({ status })], makeRequest()).effect, 'deny', status);
  }
  t.equal(evaluateConsent([c({ status: 'inactive' }, 'x')], makeRequest({ defaultWhenNone: 'permit' })).effect, 'permit');
});

t.test('scope: patient-privacy always; research consents only for research purposes; an explicit scope narrows', async (t) => {
  const research = c({ scope: { coding: [{ code: 'research' }] } });
  t.equal(evaluateConsent([research], makeRequest({ purpose: 'HRESCH' })).effect, 'permit');
  t.equal(evaluateConsent([research], makeRequest({ purpose: 'TREAT' })).effect, 'deny');
  const treatment = c({ scope: { coding: [{ code: 'treatment' }] } });
  t.equal(evaluateConsent([treatment], makeRequest({ purpose: 'TREAT' })).effect, 'permit');
  t.equal(evaluateConsent([treatment], makeRequest({ purpose: 'PUBHLTH' })).effect, 'deny');
  t.equal(evaluateConsent([c()], makeRequest({ purpose: 'HRESCH', scope: 'research' })).effect, 'deny');
});

t.test('actor: Organization/<organization>, an identifier value or display naming the destination; others do not match', async (t) => {
  const byRef = c(root({ actor: [{ reference: { reference: 'Organization/org-nhs' } }] }));
  const byUrl = c(root({ actor: [{ reference: { reference: 'https://x.pk/fhir/Organization/org-nhs' } }] }));
  const byIdent = c(root({ actor: [{ reference: { identifier: { system: 'urn:x', value: 'nhs-pk' } } }] }));
  const byDisplay = c(root({ actor: [{ reference: { display: 'NHS-PK' } }] }));
  const other = c(root({ actor: [{ reference: { reference: 'Organization/someone-else' } }] }));
  const practitioner = c(root({ actor: [{ reference: { reference: 'Practitioner/org-nhs' } }] }));
  for (const [name, consent] of Object.entries({ byRef, byUrl, byIdent, byDisplay })) {
    t.equal(evaluateConsent([consent], makeRequest()).effect, 'permit', name);
  }
  t.equal(evaluateConsent([other], makeRequest()).effect, 'deny');
  t.equal(evaluateConsent([practitioner], makeRequest()).effect, 'deny');
  t.equal(evaluateConsent([byRef], makeRequest({ actor: { destination: 'nhs-pk' } })).effect, 'deny', 'no organization configured');
});

t.test('actor role: a permit needs a recipient role (or none); a deny matches whatever the role when roles are unknown', async (t) => {
  const actor = (code: string) => [{ role: { coding: [{ code }] }, reference: { reference: 'Organization/org-nhs' } }];
  t.equal(evaluateConsent([c(root({ actor: actor('IRCP') }))], makeRequest()).effect, 'permit');
  t.equal(evaluateConsent([c(root({ actor: actor('CST') }))], makeRequest()).effect, 'deny');
  t.equal(
    evaluateConsent([c(root({ actor: actor('CST') }))], makeRequest({ actor: { destination: 'nhs-pk', organization: 'org-nhs', roles: ['CST'] } })).effect,
    'permit',
  );
  const d = evaluateConsent([c(root({ provision: [{ type: 'deny', actor: actor('CST') }] }))], makeRequest());
  t.equal(d.effect, 'deny');
  t.equal(d.provisionPath, 'provision.provision[0]');
});

t.test('action: disclose, access and use count as this disclosure; collect does not', async (t) => {
  const act = (code: string) => c(root({ action: [{ coding: [{ code }] }] }));
  for (const code of ['disclose', 'access', 'use']) t.equal(evaluateConsent([act(code)], makeRequest()).effect, 'permit', code);
  t.equal(evaluateConsent([act('collect')], makeRequest()).effect, 'deny');
  t.equal(evaluateConsent([act('access')], makeRequest({ actions: ['disclose'] })).effect, 'deny');
});

t.test('purpose: the code must be the request purpose or cover it (TREAT covers ETREAT)', async (t) => {
  const purpose = (code: string) => c(root({ purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code }] }));
  t.equal(evaluateConsent([purpose('TREAT')], makeRequest({ purpose: 'TREAT' })).effect, 'permit');
  t.equal(evaluateConsent([purpose('TREAT')], makeRequest({ purpose: 'ETREAT' })).effect, 'permit');
  t.equal(evaluateConsent([purpose('ETREAT')], makeRequest({ purpose: 'TREAT' })).effect, 'deny');
  t.equal(evaluateConsent([purpose('PUBHLTH')], makeRequest({ purpose: 'TREAT' })).effect, 'deny');
  t.equal(evaluateConsent([purpose('HRESCH')], makeRequest({ purpose: 'CLINTRCH', scope: 'patient-privacy' })).effect, 'permit');
});

t.test('securityLabel: a non-sensitivity label matches when the data carries it', async (t) => {
  const consent = c(root({ provision: [{ type: 'deny', securityLabel: [{ code: 'R' }] }] }));
  t.equal(evaluateConsent([consent], makeRequest({ labels: [{ code: 'N' }] })).effect, 'permit');
  const d = evaluateConsent([consent], makeRequest({ labels: [{ code: 'R' }] }));
  t.equal(d.effect, 'deny');
  t.equal(d.provisionPath, 'provision.provision[0]');
  const sys = c(root({ provision: [{ type: 'deny', securityLabel: [{ system: 'urn:other', code: 'R' }] }] }));
  t.equal(
    evaluateConsent([sys], makeRequest({ labels: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] })).effect,
    'permit',
    'a different system is a different label',
  );
});

t.test('class: a resource type class redacts or releases that type only', async (t) => {
  const consent = c(root({ provision: [{ type: 'deny', class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }] }] }));
  const d = evaluateConsent([consent], makeRequest({ resourceTypes: ['Observation', 'Condition'], allowPartial: true }));
  t.equal(d.effect, 'permit');
  t.equal(d.outcome, 'permit-with-obligations');
  t.same(d.obligations, [{ kind: 'redact', resourceTypes: ['Observation'], categories: [], ruleId: `consent:${d.consentId}/1` }]);
  t.equal(evaluateConsent([consent], makeRequest({ resourceTypes: ['Observation'] })).effect, 'deny');
  t.equal(
    evaluateConsent([consent], makeRequest({ resourceTypes: ['Observation', 'Condition'] })).effect,
    'deny',
    'partial release is off unless the pipeline asks for it (it must then honour redact)',
  );
  const only = c(denyRoot({ provision: [{ type: 'permit', class: [{ code: 'Condition' }] }] }));
  t.equal(evaluateConsent([only], makeRequest({ resourceTypes: ['Bundle', 'MessageHeader', 'Condition'] })).effect, 'permit', 'envelopes are not data');
  t.equal(evaluateConsent([only], makeRequest({ resourceTypes: ['Condition'] })).effect, 'permit');
  t.equal(evaluateConsent([only], makeRequest({ resourceTypes: ['Observation'] })).effect, 'deny');
});

t.test('code: a category code names a category; other codes cannot be checked, so only a deny matches them', async (t) => {
  const lab = c(root({ provision: [{ type: 'deny', code: [{ coding: [{ system: 'http://loinc.org', code: '1234-5' }] }] }] }));
  t.equal(evaluateConsent([lab], makeRequest()).effect, 'deny');
  const permitLab = c(denyRoot({ provision: [{ type: 'permit', code: [{ coding: [{ system: 'http://loinc.org', code: '1234-5' }] }] }] }));
  t.equal(evaluateConsent([permitLab], makeRequest()).effect, 'deny');
  const hiv = c(root({ provision: [{ type: 'permit', code: [{ coding: [{ code: 'HIV' }] }] }] }));
  t.equal(evaluateConsent([hiv], makeRequest({ categories: ['hiv-sti'] })).effect, 'permit');
});

t.test('period: a nested provision applies only while its period covers now', async (t) => {
  const consent = c(root({ provision: [{ type: 'deny', period: { start: '2026-06-01', end: '2026-06-30' } }] }));
  t.equal(evaluateConsent([consent], makeRequest()).effect, 'deny');
  t.equal(evaluateConsent([consent], makeRequest({ now: new Date('2026-07-01T00:00:00+05:00') })).effect, 'permit');
  t.equal(evaluateConsent([consent], makeRequest({ now: new Date('2026-05-31T23:59:59+05:00') })).effect, 'permit');
});

t.test('the root period bounds the whole consent: outside it the consent does not count', async (t) => {
  const consent = c(denyRoot({ period: { start: '2026-01-01', end: '2026-03-31' } }));
  const d = evaluateConsent([consent], makeRequest({ defaultWhenNone: 'permit' }));
  t.equal(d.effect, 'permit');
  t.match(d.reasons[0]!.text, /no active consent applies/);
});

t.test('timezone edges: date-only bounds cover whole days in +05:00; offsets are honoured', async (t) => {
  const consent = c(root({ period: { start: '2026-03-01', end: '2026-03-31' } }));
  const at = (iso: string) => evaluateConsent([consent], makeRequest({ now: new Date(iso) })).effect;
  t.equal(at('2026-02-28T18:59:59.999Z'), 'deny', '23:59:59.999 on 28 Feb in Karachi');
  t.equal(at('2026-02-28T19:00:00.000Z'), 'permit', '00:00 on 1 Mar in Karachi');
  t.equal(at('2026-03-31T18:59:59.999Z'), 'permit', 'last ms of 31 Mar in Karachi');
  t.equal(at('2026-03-31T19:00:00.000Z'), 'deny', '00:00 on 1 Apr in Karachi');
  const utc = compileConsent(makeConsent(root({ period: { start: '2026-03-01', end: '2026-03-31' } })), { id: 'u', timezone: 'UTC' });
  t.equal(evaluateConsent([utc], makeRequest({ now: new Date('2026-02-28T19:00:00Z') })).effect, 'deny', 'configured UTC');
  const exact = c(root({ period: { start: '2026-03-01T10:00:00+05:00', end: '2026-03-01T12:00:00Z' } }));
  const ex = (iso: string) => evaluateConsent([exact], makeRequest({ now: new Date(iso) })).effect;
  t.equal(ex('2026-03-01T04:59:59.999Z'), 'deny');
  t.equal(ex('2026-03-01T05:00:00.000Z'), 'permit');
  t.equal(ex('2026-03-01T12:00:00.999Z'), 'permit', 'an end with seconds precision covers its second');
  t.equal(ex('2026-03-01T12:00:01.000Z'), 'deny');
  const month = c(root({ period: { start: '2026-02', end: '2026-02' } }));
  t.equal(evaluateConsent([month], makeRequest({ now: new Date('2026-02-28T18:59:00Z') })).effect, 'permit', 'month end');
  t.equal(evaluateConsent([month], makeRequest({ now: new Date('2026-02-28T19:00:00Z') })).effect, 'deny');
});

t.test('dataPeriod: a permit needs the data inside it; a deny applies on any overlap; unknown dates only meet a deny', async (t) => {
  const permitIn = c(denyRoot({ provision: [{ type: 'permit', dataPeriod: { start: '2025-01-01', end: '2025-12-31' } }] }));
  const r = (start: string, end: string) => makeRequest({ dataPeriod: { start, end } });
  t.equal(evaluateConsent([permitIn], r('2025-02-01', '2025-03-01')).effect, 'permit');
  t.equal(evaluateConsent([permitIn], r('2025-12-01', '2026-01-05')).effect, 'deny', 'partly outside');
  t.equal(evaluateConsent([permitIn], makeRequest()).effect, 'deny', 'unknown data dates');
  const denyIn = c(root({ provision: [{ type: 'deny', dataPeriod: { start: '2020-01-01', end: '2020-12-31' } }] }));
  t.equal(evaluateConsent([denyIn], r('2019-06-01', '2020-01-01')).effect, 'deny', 'overlap by one day');
  t.equal(evaluateConsent([denyIn], r('2021-01-01', '2021-02-01')).effect, 'permit');
  t.equal(evaluateConsent([denyIn], makeRequest()).effect, 'deny', 'unknown data dates');
  t.equal(
    evaluateConsent([denyIn], r('2020-12-31T19:00:00Z', '2021-02-01')).effect,
    'permit',
    'data starting at 00:00 on 1 Jan 2021 Karachi time is after a dataPeriod ending 2020-12-31',
  );
});

t.test('data references: a deny names an instance; a permit must list every instance of the type', async (t) => {
  const deny = c(root({ provision: [{ type: 'deny', data: [{ meaning: 'instance', reference: { reference: 'Observation/7' } }] }] }));
  const d = evaluateConsent([deny], makeRequest({ resourceTypes: ['Observation', 'Condition'], dataReferences: ['Observation/7', 'Condition/1'], allowPartial: true }));
  t.equal(d.outcome, 'permit-with-obligations');
  t.same((d.obligations[0] as { resourceTypes: string[] }).resourceTypes, ['Observation']);
  t.equal(evaluateConsent([deny], makeRequest({ dataReferences: ['Observation/8'] })).effect, 'permit');
  t.equal(evaluateConsent([deny], makeRequest()).effect, 'deny', 'references unknown');
  const permit = c(denyRoot({ provision: [{ type: 'permit', data: [{ meaning: 'instance', reference: { reference: 'https://h/fhir/Observation/7/_history/2' } }] }] }));
  t.equal(evaluateConsent([permit], makeRequest({ dataReferences: ['Observation/7'] })).effect, 'permit');
  t.equal(evaluateConsent([permit], makeRequest({ dataReferences: ['Observation/7', 'Observation/8'] })).effect, 'deny');
  t.equal(evaluateConsent([permit], makeRequest()).effect, 'deny', 'references unknown');
});

t.test('nesting to depth 4: the deepest matching provision decides, and its path is reported', async (t) => {
  // permit all → deny research → permit research for Observation → deny Observation labelled R
  const consent = c({
    provision: {
      type: 'permit',
      provision: [
        { type: 'deny', purpose: [{ code: 'HRESCH' }], provision: [
          { type: 'permit', class: [{ code: 'Observation' }], provision: [
            { type: 'deny', securityLabel: [{ code: 'R' }] },
          ] },
        ] },
      ],
    },
  }, 'deep');
  const q = (o: Parameters<typeof makeRequest>[0]) => evaluateConsent([consent], makeRequest(o));
  t.equal(q({ purpose: 'TREAT' }).provisionPath, 'provision');
  const r1 = q({ purpose: 'HRESCH', resourceTypes: ['Condition'] });
  t.equal(r1.effect, 'deny');
  t.equal(r1.provisionPath, 'provision.provision[0]');
  const r2 = q({ purpose: 'HRESCH', resourceTypes: ['Observation'] });
  t.equal(r2.effect, 'permit');
  t.equal(r2.provisionPath, 'provision.provision[0].provision[0]');
  const r3 = q({ purpose: 'HRESCH', resourceTypes: ['Observation'], labels: [{ code: 'R' }] });
  t.equal(r3.effect, 'deny');
  t.equal(r3.provisionPath, 'provision.provision[0].provision[0].provision[0]');
  t.match(r3.reasons[0]!.text, /denied by consent deep \(version 1\) at provision\.provision\[0\]\.provision\[0\]\.provision\[0\] \(deny\)/);
});

t.test('among matching sibling provisions deny overrides permit', async (t) => {
  const consent = c(denyRoot({ provision: [{ type: 'permit', purpose: [{ code: 'TREAT' }] }, { type: 'deny', actor: [{ reference: { reference: 'Organization/org-nhs' } }] }, { type: 'permit' }] }));
  const d = evaluateConsent([consent], makeRequest());
  t.equal(d.effect, 'deny');
  t.equal(d.provisionPath, 'provision.provision[1]');
});

t.test('several active consents: a deny in any overrides a permit in another, whatever the order', async (t) => {
  const permit = c({}, 'p');
  const deny = c(root({ provision: [{ type: 'deny', actor: [{ reference: { reference: 'Organization/org-nhs' } }] }] }), 'd');
  for (const order of [[permit, deny], [deny, permit]]) {
    const d = evaluateConsent(order, makeRequest());
    t.equal(d.effect, 'deny');
    t.equal(d.consentId, 'd');
  }
  t.equal(evaluateConsent([permit, deny], makeRequest({ actor: { destination: 'other' } })).effect, 'permit');
});

t.test('minors: without a RelatedPerson performer a consent cannot permit, but its denials still count', async (t) => {
  const bySelf = c({ performer: [{ reference: 'Patient/123' }] }, 'self');
  const byGuardian = c({ performer: [{ reference: 'RelatedPerson/mother' }] }, 'guardian');
  const byGuardianType = c({ performer: [{ type: 'RelatedPerson', display: 'mother' }] }, 'guardian2');
  const byContained = c({ contained: [{ resourceType: 'RelatedPerson', id: 'g' }], performer: [{ reference: '#g' }] }, 'guardian3');
  const containedPatient = c({ contained: [{ resourceType: 'Patient', id: 'g' }], performer: [{ reference: '#g' }] }, 'notguardian');
  const child = makeRequest({ ageYears: 12 });
  const d = evaluateConsent([bySelf], child);
  t.equal(d.effect, 'deny');
  t.ok(d.reasons.some((r) => /under 18 and no RelatedPerson/.test(r.text)));
  t.equal(evaluateConsent([byGuardian], child).effect, 'permit');
  t.equal(evaluateConsent([byGuardianType], child).effect, 'permit');
  t.equal(evaluateConsent([byContained], child).effect, 'permit', 'a contained RelatedPerson');
  t.equal(evaluateConsent([containedPatient], child).effect, 'deny', 'a contained Patient is not a guardian');
  t.equal(evaluateConsent([bySelf], makeRequest({ ageYears: 18 })).effect, 'permit', '18 is not a minor');
  const unknownAge = evaluateConsent([bySelf], makeRequest({ ageYears: null }));
  t.equal(unknownAge.effect, 'deny', 'finding 11: an unknown age is read as a minor, so a self-given consent cannot permit');
  t.ok(unknownAge.reasons.some((r) => /age is unknown/.test(r.text)), 'and the reason says the age is unknown');
  t.equal(evaluateConsent([byGuardian], makeRequest({ ageYears: null })).effect, 'permit', "a guardian's consent permits whatever the age");
  const selfDeny = c({ ...denyRoot({}), performer: [{ reference: 'Patient/123' }] }, 'selfdeny');
  t.equal(evaluateConsent([selfDeny, byGuardian], child).effect, 'deny');
  t.equal(evaluateConsent([bySelf], { ...child, defaultWhenNone: 'permit' }).effect, 'permit', 'falls to the default');
});

t.test('sensitive categories: a general permit does not release them; a provision naming PSY does', async (t) => {
  const general = c({}, 'general');
  const mh = makeRequest({ resourceTypes: ['Condition'], categories: ['mental-health'], allowPartial: true });
  const d = evaluateConsent([general], mh);
  t.equal(d.effect, 'permit');
  t.equal(d.outcome, 'permit-with-obligations');
  t.same(d.obligations[0], { kind: 'redact', resourceTypes: [], categories: ['mental-health'], ruleId: 'consent:general/1' });
  t.ok(d.reasons.some((r) => /mental-health: not released .* must name PSY/.test(r.text)));
  t.equal(evaluateConsent([general], { ...mh, allowPartial: false }).effect, 'deny');
  const named = c(root({ provision: [{ type: 'permit', securityLabel: [labelPSY] }] }), 'named');
  t.equal(evaluateConsent([named], mh).outcome, 'permit');
  const byClass = c(root({ provision: [{ type: 'permit', class: [{ code: 'mental-health' }] }] }));
  t.equal(evaluateConsent([byClass], mh).outcome, 'permit');
  const rootNamed = c(root({ securityLabel: [labelPSY] }));
  // a consent that names only the category speaks for that category, not for the Condition resources as such
  t.equal(evaluateConsent([rootNamed], mh).effect, 'deny', 'opt-in: the resource types themselves are not covered');
  t.equal(evaluateConsent([rootNamed], { ...mh, defaultWhenNone: 'permit' }).outcome, 'permit', 'opt-out: category released, types by default');
  // a label on the data implies the category even when classification gave none
  t.equal(evaluateConsent([general], makeRequest({ labels: [labelPSY], allowPartial: true })).outcome, 'permit-with-obligations');
  t.equal(evaluateConsent([general], makeRequest({ labels: [labelPSY] })).outcome, 'deny', 'by default partial means deny');
  // the default never releases a sensitive category
  t.equal(evaluateConsent([], { ...mh, defaultWhenNone: 'permit' }).outcome, 'permit-with-obligations');
  // another consent naming it releases it
  t.equal(evaluateConsent([general, named], mh).outcome, 'permit');
  // among matching siblings, a permit naming the category wins over a general one, whatever the order
  const siblings = c(denyRoot({ provision: [{ type: 'permit', purpose: [{ code: 'TREAT' }] }, { type: 'permit', securityLabel: [labelPSY] }] }), 'sib');
  const sd = evaluateConsent([siblings], mh);
  t.equal(sd.outcome, 'permit');
  t.ok(sd.reasons.some((r) => /mental-health: permitted by consent sib \(version 1\) at provision\.provision\[1\]/.test(r.text)));
  // a deny naming HIV overrides
  const noHiv = c(root({ provision: [{ type: 'permit', securityLabel: [{ code: 'HIV' }] }, { type: 'deny', securityLabel: [{ code: 'HIV' }] }] }));
  t.equal(evaluateConsent([noHiv], makeRequest({ categories: ['hiv-sti'], allowPartial: true })).outcome, 'permit-with-obligations');
});

t.test('every decision carries reasons without patient identifiers', async (t) => {
  const consent = c({ patient: { reference: 'Patient/secret-123' } }, 'x');
  const d = evaluateConsent([consent], makeRequest({ categories: ['genetics'] }));
  t.ok(d.reasons.length >= 2);
  t.notMatch(JSON.stringify(d), /secret-123/);
});

t.test('evaluation is pure: same inputs, same decision; the clock is the request\'s', async (t) => {
  const consents = [c(root({ provision: [{ type: 'deny', period: { start: '2026-06-15' } }] }))];
  const a = evaluateConsent(consents, makeRequest({ now: NOW }));
  const b = evaluateConsent(consents, makeRequest({ now: NOW }));
  t.same(a, b);
  t.equal(evaluateConsent(consents, makeRequest({ now: new Date('2026-06-14T12:00:00+05:00') })).effect, 'permit');
});

t.test('policyRule OPTIN/OPTOUT gives the base when the root provision has no type', async (t) => {
  const optout = compileConsent(makeConsent({ policyRule: { coding: [{ code: 'OPTOUT' }] }, provision: undefined }), { id: 'o' });
  t.equal(evaluateConsent([optout], makeRequest()).effect, 'permit');
  const optin = compileConsent(makeConsent({ policyRule: { coding: [{ code: 'OPTIN' }] }, provision: { provision: [{ type: 'permit', purpose: [{ code: 'TREAT' }] }] } }), { id: 'i' });
  t.equal(evaluateConsent([optin], makeRequest()).effect, 'permit');
  t.equal(evaluateConsent([optin], makeRequest({ purpose: 'PUBHLTH' })).effect, 'deny');
});


t.test('a consent speaks for the purposes of its root provision, within its scope', async (t) => {
  t.equal(consentPurposes(c()), null, 'patient-privacy, no purpose: any');
  t.same(consentPurposes(c(root({ purpose: [{ code: 'TREAT' }] }))), ['TREAT', 'ETREAT']);
  t.same(consentPurposes(c({ scope: { coding: [{ code: 'research' }] } })), ['HRESCH', 'CLINTRCH']);
  t.same(consentPurposes(c({ scope: { coding: [{ code: 'research' }] }, ...root({ purpose: [{ code: 'HRESCH' }, { code: 'TREAT' }] }) })), ['HRESCH', 'CLINTRCH']);
});
