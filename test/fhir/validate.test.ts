import t from 'tap';
import { validateInbound, nestingDepthExceeds, OperationOutcomeError, RESOURCE_TYPES } from '../../src/fhir/index.js';

const statusOf = (fn: () => unknown) => {
  try {
    fn();
    return 0;
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.status;
    throw err;
  }
};

t.test('the R4 resource types come from the FHIRPath model', async (t) => {
  t.ok(RESOURCE_TYPES.has('Patient'));
  t.ok(RESOURCE_TYPES.has('Bundle'));
  t.ok(RESOURCE_TYPES.has('Consent'));
  t.notOk(RESOURCE_TYPES.has('DomainResource'), 'abstract types are not accepted');
  t.ok(RESOURCE_TYPES.size > 140);
});

t.test('a good bundle and a good single resource pass', async (t) => {
  const b = validateInbound({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient' } }] }, undefined);
  t.equal(b.resourceType, 'Bundle');
  t.equal(validateInbound({ resourceType: 'Observation', status: 'final' }, 'Observation').resourceType, 'Observation');
});

t.test('each malformed shape is refused with the right status', async (t) => {
  t.equal(statusOf(() => validateInbound([1, 2], undefined)), 400, 'an array');
  t.equal(statusOf(() => validateInbound({ foo: 1 }, undefined)), 400, 'no resourceType');
  t.equal(statusOf(() => validateInbound({ resourceType: 'Spaceship' }, 'Spaceship')), 422, 'unknown type');
  t.equal(statusOf(() => validateInbound({ resourceType: 'Patient' }, 'Observation')), 400, 'path contradicts body');
  t.equal(statusOf(() => validateInbound({ resourceType: 'Patient' }, undefined)), 422, 'not a Bundle on /fhir');
  t.equal(statusOf(() => validateInbound({ resourceType: 'Bundle', type: 'searchset' }, undefined)), 422, 'unaccepted Bundle type');
  t.equal(statusOf(() => validateInbound({ resourceType: 'Bundle', type: 'batch', entry: [null] }, undefined)), 400, 'null entry');
  t.equal(statusOf(() => validateInbound({ resourceType: 'Bundle', type: 'batch', entry: [{}] }, undefined)), 400, 'entry without resource');
  t.equal(statusOf(() => validateInbound({ resourceType: 'Bundle', type: 'batch', entry: {} }, undefined)), 400, 'entry not an array');
  t.equal(
    statusOf(() => validateInbound({ resourceType: 'Bundle', type: 'message', entry: [{ resource: { resourceType: 'Patient' } }] }, undefined)),
    422,
    'message bundle without MessageHeader first',
  );
});

t.test('deep nesting is measured without recursion and refused', async (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = [deep];
  t.ok(nestingDepthExceeds(deep, 64));
  t.equal(statusOf(() => validateInbound({ resourceType: 'Bundle', type: 'collection', x: deep }, undefined)), 400);
  t.notOk(nestingDepthExceeds({ a: { b: { c: 1 } } }, 64));
});

t.test('outcomes name the element at fault', async (t) => {
  try {
    validateInbound({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'Patient' } }, { resource: { x: 1 } }] }, undefined);
    t.fail('should throw');
  } catch (err) {
    const o = (err as OperationOutcomeError).result.outcome;
    t.equal(o.resourceType, 'OperationOutcome');
    t.same(o.issue[0].expression, ['Bundle.entry[1].resource.resourceType']);
  }
});
