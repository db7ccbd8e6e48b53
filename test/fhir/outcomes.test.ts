import t from 'tap';
import {
  OperationOutcomeError,
  QuotaExceededError,
  DuplicateIdempotencyKeyError,
  normalizeOperationOutcome,
  statusOf,
  ackCodeOf,
  unprocessableAll,
  quotaExceeded,
} from '../../src/fhir/index.js';

t.test('normalizeOperationOutcome: our errors keep their outcome, anything else is a bare 500', async (t) => {
  const quota = new QuotaExceededError('the disk holding the queue is full', 9);
  t.ok(quota instanceof OperationOutcomeError, 'queue errors are OperationOutcomeErrors (matched with instanceof)');
  t.equal(quota.kind, 'quota');
  t.equal(quota.retryAfterSeconds, 9);
  t.same(normalizeOperationOutcome(quota), quotaExceeded(9, 'the disk holding the queue is full; retry later'));
  t.equal(statusOf(normalizeOperationOutcome(quota)), 503);

  const dup = new DuplicateIdempotencyKeyError('{"id":"m"}');
  t.equal(dup.response, '{"id":"m"}');
  t.equal(dup.status, 409);
  t.equal(ackCodeOf(dup.result), 'AA', 'the message is held: the sender must not resend');

  for (const thrown of [new TypeError('patient Ali Khan'), 'a string', null, undefined, { status: 404, message: 'x' }, Object.assign(new Error('x'), { name: 'QuotaExceededError' })]) {
    const o = normalizeOperationOutcome(thrown);
    t.equal(o.kind, 'server-error', `${String(thrown)} → server error`);
    t.equal(statusOf(o), 500);
    t.notMatch(JSON.stringify(o), /Ali Khan/);
  }
});

t.test('the error message is the issues\' text, and a transaction refusal keeps every issue', async (t) => {
  const o = unprocessableAll([
    { severity: 'error', code: 'processing', details: { text: 'entry 1 denied' }, expression: ['Bundle.entry[1]'] },
    { severity: 'error', code: 'processing', details: { text: 'entry 2 denied' }, expression: ['Bundle.entry[2]'] },
  ]);
  const err = new OperationOutcomeError(o);
  t.equal(err.status, 422);
  t.equal(err.message, 'entry 1 denied; entry 2 denied');
  t.equal(err.result.outcome.issue.length, 2);
});
