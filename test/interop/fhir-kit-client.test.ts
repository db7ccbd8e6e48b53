/**
 * fhir-kit-client (an npm FHIR client nobody here wrote), used as an EHR integrator would:
 * against a real gateway over HTTP with a bearer token, it discovers the server's
 * capabilities, creates, sends a batch and a transaction, and meets darwaza's refusals
 * as its own errors carrying the OperationOutcome.
 */
import t from 'tap';
import { Client, CapabilityTool } from 'fhir-kit-client';
import { startFhirGateway } from '../helpers/fhir-gateway.js';
import { structureProblems } from '../../src/fhir/index.js';

interface KitError extends Error {
  response: { status: number; data: { resourceType: string; issue: { severity: string; code: string; details?: { text: string } }[] } };
}
async function failure(p: Promise<unknown>): Promise<KitError> {
  try {
    await p;
  } catch (err) {
    return err as KitError;
  }
  throw new Error('expected the library to reject');
}

t.test('fhir-kit-client against a real gateway', async (t) => {
  const gw = await startFhirGateway(t);
  const client = new Client({ baseUrl: gw.baseUrl, bearerToken: gw.senderToken });

  await t.test('capability discovery', async (t) => {
    const cs = (await client.capabilityStatement()) as any;
    t.equal(cs.resourceType, 'CapabilityStatement');
    t.equal(cs.fhirVersion, '4.0.1');
    t.same(structureProblems(cs), [], 'valid R4');
    const tool = new CapabilityTool(cs);
    t.ok(tool.serverCan('batch'), 'batch at system level');
    t.ok(tool.serverCan('transaction'), 'transaction at system level');
    t.ok(tool.resourceCan('Observation', 'create'), 'Observation create');
    t.notOk(tool.resourceCan('Observation', 'read'), 'no Observation read: a gateway, not a store');
    t.notOk(tool.resourceCan('Patient', 'search-type'), 'no Patient search');
    t.ok(tool.resourceCan('Consent', 'search-type'), 'Consent is kept and searchable');
    // This listener is plain HTTP on loopback: tokens only, no client certificates to state.
    t.same(cs.rest[0].security.service.map((s: any) => s.text.split(':')[0]), ['Bearer API tokens'], 'the security the listener has');
  });

  await t.test('create: 202 with an OperationOutcome of the decisions; Prefer is honoured', async (t) => {
    const oo = (await client.create({ resourceType: 'Observation', body: gw.observation(1) })) as any;
    t.equal(oo.resourceType, 'OperationOutcome');
    t.match(oo.issue[1].details.text, /^national-telemed: queued/);
    const rep = (await client.create({ resourceType: 'Observation', body: gw.observation(2), options: { headers: { prefer: 'return=representation' } } })) as any;
    t.equal(rep.resourceType, 'Observation');
    t.match(rep.meta.tag, [{ system: 'urn:darwaza:message-id' }]);
    const minimal = await client.create({ resourceType: 'Observation', body: gw.observation(3), options: { headers: { prefer: 'return=minimal' } } });
    t.same(minimal, {}, 'return=minimal: nothing to parse');
    const other = (await client.create({ resourceType: 'Observation', body: gw.observation(4, 'p-no-consent') })) as any;
    t.match(other.issue[1].details.text, /^national-telemed: denied: /, 'a denial is still an accepted message, said in words');
  });

  await t.test('batch: a batch-response Bundle', async (t) => {
    const body = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [1, 2].map((i) => ({ resource: gw.observation(10 + i), request: { method: 'POST', url: 'Observation' } })),
    };
    const b = (await client.batch({ body })) as any;
    t.equal(b.resourceType, 'Bundle');
    t.equal(b.type, 'batch-response');
    t.same(b.entry.map((e: any) => e.response.status), ['202 Accepted', '202 Accepted']);
    t.ok(b.entry.every((e: any) => /^\/messages\//.test(e.response.location)));
    t.same(structureProblems(b), []);
  });

  await t.test('transaction: a transaction-response Bundle', async (t) => {
    const body = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [1, 2].map((i) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${i}`, resource: gw.observation(20 + i), request: { method: 'POST', url: 'Observation' } })),
    };
    const b = (await client.transaction({ body })) as any;
    t.equal(b.type, 'transaction-response');
    t.equal(b.entry.length, 2);
    t.match(b.entry[0].response.outcome.issue[1].details.text, /national-telemed: queued/);
    t.same(structureProblems(b), []);
  });

  await t.test('errors surface as the library error, carrying the OperationOutcome', async (t) => {
    const invalid = await failure(client.create({ resourceType: 'Observation', body: { ...gw.observation(30), hospitalPatientName: 'x' } }));
    t.equal(invalid.response.status, 422);
    t.equal(invalid.response.data.resourceType, 'OperationOutcome');
    t.match(invalid.response.data.issue[0].details?.text, /hospitalPatientName is not an element of FHIR R4/);

    for (const [what, call] of [
      ['read', () => client.read({ resourceType: 'Observation', id: 'obs-1' })],
      ['search', () => client.search({ resourceType: 'Observation', searchParams: { subject: 'Patient/p-interop' } })],
      ['update', () => client.update({ resourceType: 'Observation', id: 'obs-1', body: { ...gw.observation(31), id: 'obs-1' } })],
      ['delete', () => client.delete({ resourceType: 'Observation', id: 'obs-1' })],
    ] as const) {
      const err = await failure(call());
      t.equal(err.response.status, 405, what);
      t.match(err.response.data.issue[0].details?.text, /not a FHIR store/, `${what}: says what darwaza is`);
    }

    const anonymous = new Client({ baseUrl: gw.baseUrl });
    const denied = await failure(anonymous.create({ resourceType: 'Observation', body: gw.observation(32) }));
    t.equal(denied.response.status, 401, 'no token: 401');
    t.equal(denied.response.data.resourceType, 'OperationOutcome');
  });
});
