/**
 * The gateway on PostgreSQL (store.kind "postgres"), in this process against a real
 * throwaway cluster: messages are decided on consents read from the shared registry, queued
 * and delivered; a second gateway on the same database sees the first one's consents and
 * withdrawals at its next message; the one audit log names both nodes and verifies; the
 * database's files hold no PHI.
 */
import t, { type Test } from 'tap';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startGateway } from '../../src/gateway/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { PostgresAuditLog, verifyPostgresLog } from '../../src/audit/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { memoryLogger, setupGateway } from '../helpers/gateway.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';
import { waitFor } from '../helpers/net.js';
import { filesUnder } from '../helpers/phi.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const server = await startPostgres(t);
const DESTINATION = 'national-telemed';

async function post(port: number, path: string, body: unknown) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as any };
}
const decisionOf = (r: { body: any }) => r.body.destinations?.map((d: any) => d.decision).join(',');

/** Two gateways on a fresh database, the simulator not started unless asked (deliveries fail and retry). */
async function pair(t: Test, opts: { sim?: boolean } = {}) {
  const url = await server.newDatabase();
  const a = await setupGateway(t, (c) => (c.store = { kind: 'postgres', url, nodeId: 'gw-a' }));
  const keys = await loadOrCreateKeyStore(a.config.certsDir);
  keys.demoRecipient(DESTINATION);
  const sim = opts.sim ? await startRecordingSimulator(a.config.certsDir, a.simPort) : undefined;
  const bDir = join(a.dir, 'node-b');
  cpSync(a.config.certsDir, join(bDir, 'certs'), { recursive: true });
  const bConfig = { ...a.config, dataDir: join(bDir, 'data'), certsDir: join(bDir, 'certs'), store: { kind: 'postgres' as const, url, pool: {}, nodeId: 'gw-b', leaseSeconds: 120 } };
  const gwA = await startGateway(a.config, { logger: memoryLogger().logger, simulator: false });
  const gwB = await startGateway(bConfig, { logger: memoryLogger().logger, simulator: false });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  client.on('error', () => {}); // a test that stops the server ends this connection too
  t.teardown(async () => {
    await gwA.stop();
    await gwB.stop();
    await sim?.stop();
    await client.end().catch(() => {});
  });
  return { url, gwA, gwB, client, sim, keys };
}

/** A Patient with a local id (weak: it means something only at its sender) and a CNIC (strong). */
const patientWith = (localId: string, cnic: string) => ({
  resourceType: 'Patient',
  id: localId,
  identifier: [{ system: 'urn:oid:2.16.586.1.1', value: cnic }],
  gender: 'female',
  birthDate: '1980-05-01',
});

t.test('two gateways on one PostgreSQL: shared consents, withdrawals seen by the other node, one audit log, no PHI at rest', async (t) => {
  const { url, gwA, gwB, client, sim, keys } = await pair(t, { sim: true });

  // No consent yet: the opt-in destination is denied on both nodes.
  t.equal((await post(gwA.lanPort, '/fhir/Patient', patientFor('pg-p1'))).status, 202);
  const before = await post(gwB.lanPort, '/fhir/Observation', observation('pg-p1', 1));
  t.equal(decisionOf(before), 'denied', 'no consent: denied');

  // A consent stored through node A permits on node B at once (one registry).
  const consent = await post(gwA.lanPort, '/fhir/Consent', consentFor('pg-p1'));
  t.equal(consent.status, 201, 'the consent is stored through node A');
  const viaB = await post(gwB.lanPort, '/fhir/Observation', observation('pg-p1', 2));
  t.equal(viaB.status, 202);
  t.equal(decisionOf(viaB), 'queued', `node B sees node A's consent: ${JSON.stringify(viaB.body.destinations)}`);
  const viaA = await post(gwA.lanPort, '/fhir/Observation', observation('pg-p1', 3));
  t.equal(decisionOf(viaA), 'queued');
  await waitFor(() => sim!.opened.has(viaB.body.id) && sim!.opened.has(viaA.body.id), { timeoutMs: 30_000, what: 'both deliveries' });
  t.match(JSON.parse(sim!.opened.get(viaB.body.id)!.payload), { resourceType: 'Observation' }, 'delivered and opened by the receiver');

  // Withdrawn through node B: node A's next message is denied.
  const withdrawn = await fetch(`http://127.0.0.1:${gwB.lanPort}/fhir/Consent/${consent.body.id}`, { method: 'DELETE' });
  t.equal(withdrawn.status, 200, 'withdrawn through node B');
  const after = await post(gwA.lanPort, '/fhir/Observation', observation('pg-p1', 4));
  t.equal(decisionOf(after), 'denied', 'node A denies after node B withdrew');

  // Stop both (the leader signs no more), then the shared log verifies and names both nodes.
  await gwA.stop();
  await gwB.stop();
  const log = await PostgresAuditLog.open({ url, nodeId: 'reader', signer: keys.signer(), migrate: false });
  try {
    t.equal((await log.latestHead())?.treeSize, await log.size(), 'the leader signed a last head as it stopped: every entry is vouched for');
    const r = await verifyPostgresLog(log, keys.signer().publicKey);
    t.ok(r.ok, `the shared log verifies: ${JSON.stringify(r).slice(0, 300)}`);
  } finally {
    await log.close();
  }
  {
    const nodes = (await client.query<{ node: string }>('SELECT DISTINCT node FROM audit_entries ORDER BY node')).rows.map((r) => r.node);
    t.same(nodes, ['gw-a', 'gw-b'], 'entries name the node that made them');
    const decided = (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_entries WHERE event = 'decided'")).rows[0]!.n;
    t.ok(decided >= 4, `one decision entry per message and destination (${decided})`);
    await client.query('CHECKPOINT');
  }
  // The fixture's narrative text and patient id reached the database only sealed or tokenized.
  const canaries = ['Routine observation round', 'pg-p1'];
  const hits = filesUnder(server.dir).filter((f) => {
    const bytes = readFileSync(f);
    return canaries.some((c) => bytes.includes(c));
  });
  t.same(hits, [], 'no file of the cluster (tables, WAL) holds the narrative or the patient id');
});

t.test('a weak id sent with two identities at once on two nodes: the binding that lost is decided again', async (t) => {
  const { gwA, gwB, client } = await pair(t);
  const PAIRS = 12;
  // A consent naming the local id only: it applies to whichever identity that id is bound to first.
  for (let i = 0; i < PAIRS; i++) t.equal((await post(gwA.lanPort, '/fhir/Consent', consentFor(`w-${i}`))).status, 201);
  const results = await Promise.all(
    Array.from({ length: PAIRS }, (_, i) =>
      Promise.all([
        post(gwA.lanPort, '/fhir/Patient', patientWith(`w-${i}`, `35202-10000${String(i).padStart(2, '0')}-1`)),
        post(gwB.lanPort, '/fhir/Patient', patientWith(`w-${i}`, `35202-20000${String(i).padStart(2, '0')}-2`)),
      ]),
    ),
  );
  for (const [i, [onA, onB]] of results.entries()) {
    t.equal(onA.status, 202);
    t.equal(onB.status, 202);
    const queued = [decisionOf(onA), decisionOf(onB)].filter((d) => d === 'queued').length;
    t.equal(queued, 1, `pair ${i}: only the identity the local id was bound to carries its consent (${decisionOf(onA)} / ${decisionOf(onB)})`);
  }
  const bound = (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM patient_memory WHERE kind = 'boundTo'")).rows[0]!.n;
  t.equal(bound, PAIRS, 'one binding per local id');
});

t.test('a withdrawal through one node stops what either node queued for the patient', async (t) => {
  const { gwA, gwB, client } = await pair(t);
  t.equal((await post(gwA.lanPort, '/fhir/Patient', patientFor('wd-1'))).status, 202);
  const consent = await post(gwA.lanPort, '/fhir/Consent', consentFor('wd-1'));
  const queued = [await post(gwA.lanPort, '/fhir/Observation', observation('wd-1', 1)), await post(gwB.lanPort, '/fhir/Observation', observation('wd-1', 2))];
  t.same(queued.map(decisionOf), ['queued', 'queued'], 'queued on both nodes (the receiver is down: they wait)');
  t.equal((await fetch(`http://127.0.0.1:${gwB.lanPort}/fhir/Consent/${consent.body.id}`, { method: 'DELETE' })).status, 200);
  const states = async () =>
    (await client.query<{ state: string }>('SELECT state FROM queue_items WHERE message_id = ANY($1) ORDER BY seq', [queued.map((q) => q.body.id)])).rows.map((r) => r.state);
  await waitFor(async () => (await states()).every((s) => s === 'withdrawn'), { timeoutMs: 30_000, what: 'both rows withdrawn' });
  t.same(await states(), ['withdrawn', 'withdrawn'], 'both rows withdrawn, whichever node queued them');
  const payloads = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM queue_items WHERE message_id = ANY($1) AND payload IS NOT NULL', [queued.map((q) => q.body.id)])).rows[0]!.n;
  t.equal(payloads, 0, 'their sealed payloads are gone');
});

t.test('the database down: not ready, 503 with Retry-After (nothing accepted that is not stored); back up: ready, and it accepts again', async (t) => {
  const { gwA, url } = await pair(t);
  t.equal((await post(gwA.lanPort, '/fhir/Patient', patientFor('down-1'))).status, 202);
  const ready = async () => (await fetch(`http://127.0.0.1:${gwA.adminPort}/readyz`)).status;
  t.equal(await ready(), 200);
  const parts = server.restartParts();
  await parts.stop();
  try {
    const r = await fetch(`http://127.0.0.1:${gwA.lanPort}/fhir/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientFor('down-2')) });
    t.equal(r.status, 503, 'refused while the database is down');
    t.ok(Number(r.headers.get('retry-after')) > 0, 'with Retry-After');
    await waitFor(async () => (await ready()) === 503 || undefined, { timeoutMs: 20_000, what: 'not ready' });
    const body = (await (await fetch(`http://127.0.0.1:${gwA.adminPort}/readyz`)).json()) as { reasons: string[] };
    t.match(body.reasons.join(' '), /cannot be reached/, 'readiness names the database');
    // A security event during the outage (a refused token) must not be lost with it.
    const refused = await fetch(`http://127.0.0.1:${gwA.lanPort}/fhir/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: 'Bearer not-a-token' }, body: '{}' });
    t.equal(refused.status, 401, 'a bad token is refused while the database is down');
  } finally {
    await parts.start();
  }
  await waitFor(async () => (await ready()) === 200 || undefined, { timeoutMs: 30_000, what: 'ready again' });
  await waitFor(async () => (await post(gwA.lanPort, '/fhir/Patient', patientFor('down-3'))).status === 202 || undefined, { timeoutMs: 30_000, what: 'accepting again' });
  t.pass('accepts again after the restart');
  const after = new pg.Client({ connectionString: url });
  await after.connect();
  try {
    const denied = await waitFor(
      async () => (await after.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_entries WHERE event = 'access-denied'")).rows[0]!.n || undefined,
      { timeoutMs: 30_000, what: 'the refusal audited' },
    );
    t.ok(denied >= 1, 'the refusal made while the database was down is in the shared log now');
  } finally {
    await after.end();
  }
});

t.test('the console on a pair reads the shared state: the audit log verified from node B, a consent found and withdrawn through node B that node A stored', async (t) => {
  const { gwA, gwB } = await pair(t);
  // A consent by CNIC (a local reference would be namespaced by its sender, and the console searches as no sender).
  const CNIC = '35202-7654321-3';
  t.equal((await post(gwA.lanPort, '/fhir/Patient', patientWith('con-1', CNIC))).status, 202);
  const consent = await post(gwA.lanPort, '/fhir/Consent', { ...consentFor('con-1'), patient: { identifier: { system: 'urn:oid:2.16.586.1.1', value: CNIC } } });
  t.equal(consent.status, 201);
  const admin = `http://127.0.0.1:${gwB.adminPort}`;
  const html = { accept: 'text/html', origin: admin };
  const overview = await fetch(`${admin}/console/`, { headers: html });
  t.equal(overview.status, 200, 'the overview opens');
  t.match(await overview.text(), /audit/i);
  const auditPage = await fetch(`${admin}/console/audit`, { headers: html });
  t.equal(auditPage.status, 200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await auditPage.text())?.[1];
  t.ok(csrf, 'forms carry a CSRF token');
  const form = (path: string, body: Record<string, string>) => fetch(`${admin}${path}`, { method: 'POST', headers: html, body: new URLSearchParams({ ...body, csrf: csrf! }), redirect: 'manual' });
  // The leader signs a head at once when elected; wait for one, so there is something to verify.
  await waitFor(async () => /entries; [1-9]\d* signed tree heads?/.test(await (await fetch(`${admin}/console/audit`, { headers: html })).text()) || undefined, { timeoutMs: 30_000, what: 'a signed head' });
  const verified = await (await form('/console/audit/verify', {})).text();
  t.match(verified, /entries and \d+ signed tree heads? check out/, 'verify now: the shared log checks out');
  const found = await (await form('/console/consents', { q: CNIC })).text();
  t.match(found, new RegExp(consent.body.id), 'the consent node A stored is found through node B');
  const withdrawn = await (await form(`/console/consents/${consent.body.id}/withdraw`, { reason: 'patient asked at the front desk', q: CNIC })).text();
  t.match(withdrawn, /withdrawn \(version 2\)/, 'and withdrawn');
  const after = await post(gwA.lanPort, '/fhir/Patient', patientWith('con-1', CNIC));
  t.equal(decisionOf(after), 'denied', 'node A denies at once');
});

t.test('a start against a database that is not there fails with one plain sentence, naming it without its password', async (t) => {
  const s = await setupGateway(t, (c) => (c.store = { kind: 'postgres', url: 'postgres://darwaza:s3cret@127.0.0.1:1/darwaza', nodeId: 'gw-x' }));
  const err = await startGateway(s.config, { logger: memoryLogger().logger, simulator: false }).then(
    async (gw) => (await gw.stop(), undefined),
    (e: Error) => e,
  );
  t.equal(err?.name, 'SharedStoreError');
  t.match(err?.message, /^PostgreSQL at postgres:\/\/darwaza@127\.0\.0\.1:1\/darwaza cannot be used \(ECONNREFUSED\)/);
  t.notMatch(err?.message, /s3cret/);
});
