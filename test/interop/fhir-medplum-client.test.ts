/**
 * @medplum/core's MedplumClient, used as an app developer would: against a real gateway
 * over HTTP with a bearer token (setAccessToken), it reads the CapabilityStatement,
 * creates, runs a batch and a transaction (executeBatch), and meets refusals as its own
 * OperationOutcomeError carrying darwaza's OperationOutcome.
 */
import t from 'tap';
import { MedplumClient, OperationOutcomeError } from '@medplum/core';
import { startFhirGateway } from '../helpers/fhir-gateway.js';
import { structureProblems } from '../../src/fhir/index.js';

async function failure(p: Promise<unknown>): Promise<OperationOutcomeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err;
    throw err;
  }
  throw new Error('expected the library to reject');
}

t.test('MedplumClient against a real gateway', async (t) => {
  const gw = await startFhirGateway(t, 'p-medplum');
  const base = gw.baseUrl.replace(/\/fhir$/, '/');
  const medplum = new MedplumClient({ baseUrl: base, fhirUrlPath: 'fhir', fetch: (url: string, init?: RequestInit) => fetch(url, init) });
  medplum.setAccessToken(gw.senderToken);

  await t.test('capability discovery', async (t) => {
    const cs = (await medplum.get(medplum.fhirUrl('metadata'), { cache: 'no-cache' })) as any;
    t.equal(cs.resourceType, 'CapabilityStatement');
    t.equal(cs.fhirVersion, '4.0.1');
    t.same(structureProblems(cs), []);
    const observation = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Observation');
    t.same(observation.interaction, [{ code: 'create', documentation: observation.interaction[0].documentation }]);
  });

  await t.test('createResource: the OperationOutcome of the decisions; return=representation gives the resource', async (t) => {
    const oo = (await medplum.createResource(gw.observation(1) as any)) as any;
    t.equal(oo.resourceType, 'OperationOutcome');
    t.match(oo.issue[1].details.text, /^national-telemed: queued/);
    const rep = (await medplum.createResource(gw.observation(2) as any, { headers: { Prefer: 'return=representation' } })) as any;
    t.equal(rep.resourceType, 'Observation');
    t.match(rep.meta.tag, [{ system: 'urn:darwaza:message-id' }]);
  });

  await t.test('executeBatch: batch-response and transaction-response Bundles', async (t) => {
    const entries = (n: number) => [1, 2].map((i) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-0000000000${n}${i}`, resource: gw.observation(n + i) as any, request: { method: 'POST' as const, url: 'Observation' } }));
    const batch = await medplum.executeBatch({ resourceType: 'Bundle', type: 'batch', entry: entries(10) });
    t.equal(batch.type, 'batch-response');
    t.same(batch.entry?.map((e: any) => e.response?.status), ['202 Accepted', '202 Accepted']);
    t.same(structureProblems(batch as any), []);
    const tx = await medplum.executeBatch({ resourceType: 'Bundle', type: 'transaction', entry: entries(20) });
    t.equal(tx.type, 'transaction-response');
    t.equal(tx.entry?.length, 2);
    t.equal(tx.entry?.[0]?.response?.location, tx.entry?.[1]?.response?.location, 'one message');
  });

  await t.test('errors are OperationOutcomeErrors carrying the OperationOutcome', async (t) => {
    const invalid = await failure(medplum.createResource({ ...gw.observation(30), hospitalPatientName: 'x' } as any));
    t.equal(invalid.outcome.resourceType, 'OperationOutcome');
    t.match(invalid.outcome.issue?.[0]?.details?.text, /hospitalPatientName is not an element of FHIR R4/);
    const read = await failure(medplum.readResource('Observation', 'obs-1'));
    t.match(read.outcome.issue?.[0], { code: 'not-supported', details: { text: /not a FHIR store/ } }, 'read: 405 in words');
    const search = await failure(medplum.search('Observation', 'subject=Patient/p-medplum', { cache: 'no-cache' }));
    t.match(search.outcome.issue?.[0]?.details?.text, /^search-type on Observation is not supported/);
    const update = await failure(medplum.updateResource({ ...gw.observation(31), id: 'obs-1' } as any));
    t.match(update.outcome.issue?.[0]?.details?.text, /^update on Observation/);
    const del = await failure(medplum.deleteResource('Observation', 'obs-1'));
    t.match(del.outcome.issue?.[0]?.details?.text, /^delete on Observation/);

    const anonymous = new MedplumClient({ baseUrl: base, fhirUrlPath: 'fhir', fetch: (url: string, init?: RequestInit) => fetch(url, init) });
    const denied = await failure(anonymous.createResource(gw.observation(32) as any));
    t.equal(denied.outcome.resourceType, 'OperationOutcome', 'no token: refused with an OperationOutcome');
  });
});
