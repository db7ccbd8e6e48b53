/**
 * One outcome mapping: the same error, thrown while a message is stored, answers with
 * the same meaning over HTTP (status, issue code, Retry-After) and over MLLP (ACK code
 * in original and enhanced mode). The expected table is written out here on purpose.
 */
import t from 'tap';
import { createLanApp } from '../../src/ingress/http/index.js';
import { handleFrame, type MllpAccept } from '../../src/ingress/mllp/index.js';
import { createPipeline, PASS_THROUGH_STAGES } from '../../src/pipeline/index.js';
import { parseHl7 } from '../../src/hl7v2/index.js';
import {
  OUTCOME_KINDS,
  OperationOutcomeError,
  QuotaExceededError,
  badRequest,
  conflict,
  duplicate,
  forbidden,
  methodNotAllowed,
  notAcceptable,
  notFound,
  serverError,
  tooLarge,
  unprocessable,
  unsupportedMediaType,
  type OutcomeKind,
} from '../../src/fhir/index.js';
import { memoryStore } from '../helpers/memory-store.js';
import { testConfig } from '../helpers/config.js';
import { loadHl7, withMshField } from '../fixtures/hl7v2/load.js';

interface Row {
  error: Error;
  status: number;
  code: string;
  retryAfter: string | null;
  original: 'AA' | 'AE' | 'AR';
  enhanced: 'CA' | 'CE' | 'CR';
}

const TABLE: Record<OutcomeKind, Row> = {
  'bad-request': { error: new OperationOutcomeError(badRequest('bad field', 'Observation.status')), status: 400, code: 'invalid', retryAfter: null, original: 'AE', enhanced: 'CE' },
  forbidden: { error: new OperationOutcomeError(forbidden('not for this sender')), status: 403, code: 'forbidden', retryAfter: null, original: 'AR', enhanced: 'CR' },
  'not-found': { error: new OperationOutcomeError(notFound('no such thing')), status: 404, code: 'not-found', retryAfter: null, original: 'AE', enhanced: 'CE' },
  'method-not-allowed': { error: new OperationOutcomeError(methodNotAllowed('not here')), status: 405, code: 'not-supported', retryAfter: null, original: 'AR', enhanced: 'CR' },
  'not-acceptable': { error: new OperationOutcomeError(notAcceptable('not this format')), status: 406, code: 'not-supported', retryAfter: null, original: 'AR', enhanced: 'CR' },
  conflict: { error: new OperationOutcomeError(conflict('clashes with a held message')), status: 409, code: 'conflict', retryAfter: null, original: 'AE', enhanced: 'CE' },
  duplicate: { error: new OperationOutcomeError(duplicate('already held')), status: 409, code: 'duplicate', retryAfter: null, original: 'AA', enhanced: 'CA' },
  'too-large': { error: new OperationOutcomeError(tooLarge('too big')), status: 413, code: 'too-long', retryAfter: null, original: 'AR', enhanced: 'CR' },
  'unsupported-media-type': { error: new OperationOutcomeError(unsupportedMediaType('not this type')), status: 415, code: 'not-supported', retryAfter: null, original: 'AR', enhanced: 'CR' },
  unprocessable: { error: new OperationOutcomeError(unprocessable('refused by policy')), status: 422, code: 'processing', retryAfter: null, original: 'AR', enhanced: 'CR' },
  'server-error': { error: new OperationOutcomeError(serverError('a known failure of ours')), status: 500, code: 'exception', retryAfter: null, original: 'AE', enhanced: 'CE' },
  quota: { error: new QuotaExceededError('the queue is at its disk quota', 17), status: 503, code: 'transient', retryAfter: '17', original: 'AR', enhanced: 'CR' },
};

const FHIR = { 'content-type': 'application/fhir+json' };
const obs = JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' } });

/** Both transports over one pipeline whose store throws `error` at the commit. */
function transports(error: Error) {
  const config = testConfig();
  const store = memoryStore({ failWith: error });
  const pipeline = createPipeline({ config, store, stages: PASS_THROUGH_STAGES });
  const app = createLanApp({ pipeline, messages: store, destinationNames: ['national-telemed'], defaultPurpose: 'TREAT', maxBodyBytes: 65536, shape: { maxDepth: 64, maxEntries: 100 } });
  const accept: MllpAccept = async (input) => {
    const r = await pipeline.ingest({ resource: input.fhir!, source: input.source, purpose: 'TREAT', format: 'hl7v2', v2: input.text, messageType: input.messageType, idempotencyKey: input.idempotencyKey, responseFor: (a) => input.ackFor(a.id) });
    return r.kind === 'duplicate' ? { kind: 'duplicate', storedResponse: r.stored } : { kind: 'accepted', messageId: r.answer.id, storedAck: r.stored };
  };
  return { app, accept, store };
}

const ackOf = (acks: string[]) => parseHl7(acks[0]!).segment('MSA')!.value(1);

t.test('the table covers every outcome kind', async (t) => {
  t.same([...OUTCOME_KINDS].sort(), Object.keys(TABLE).sort());
});

for (const kind of OUTCOME_KINDS) {
  const row = TABLE[kind];
  t.test(`${kind}: HTTP ${row.status} ${row.code}, MLLP ${row.original}/${row.enhanced}`, async (t) => {
    const { app, accept, store } = transports(row.error);
    const res = await app.request('/fhir/Observation', { method: 'POST', headers: FHIR, body: obs });
    t.equal(res.status, row.status, 'HTTP status');
    t.equal(res.headers.get('retry-after'), row.retryAfter, 'Retry-After only where waiting helps');
    const body = (await res.json()) as { resourceType: string; issue: { code: string; diagnostics?: string }[] };
    t.equal(body.resourceType, 'OperationOutcome');
    t.equal(body.issue[0]!.code, row.code, 'issue code');
    t.equal(/error id [0-9a-f-]{36}/.test(body.issue[0]!.diagnostics ?? ''), row.status === 500, 'an error id only for our own failures');

    const original = Buffer.from(loadHl7('adt-a03-discharge.hl7'));
    const enhanced = Buffer.from(withMshField(loadHl7('adt-a03-discharge.hl7'), 15, 'AL'));
    t.equal(ackOf((await handleFrame(original, null, { accept })).acks), row.original, 'original-mode ACK');
    t.equal(ackOf((await handleFrame(enhanced, null, { accept })).acks), row.enhanced, 'enhanced-mode ACK');
    t.equal(store.writes.length, 0, 'nothing stored');
  });
}

t.test('an unknown error is a 500 over HTTP and AE over MLLP, with none of its text in either', async (t) => {
  const { app, accept } = transports(new TypeError('patient Ali Khan, MRN 42'));
  const res = await app.request('/fhir/Observation', { method: 'POST', headers: FHIR, body: obs });
  t.equal(res.status, 500);
  t.notMatch(await res.text(), /Ali Khan|MRN/);
  const r = await handleFrame(Buffer.from(loadHl7('adt-a03-discharge.hl7')), null, { accept });
  t.equal(ackOf(r.acks), 'AE');
  t.equal(r.result, 'failed');
  t.notMatch(r.acks.join(''), /Ali Khan|MRN/);
});
