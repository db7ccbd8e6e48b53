/**
 * The gateway on PostgreSQL (store.kind "postgres"), in this process against a real
 * throwaway cluster: messages are decided on consents read from the shared registry, queued
 * and delivered; a second gateway on the same database sees the first one's consents and
 * withdrawals at its next message; the one audit log names both nodes and verifies; the
 * database's files hold no PHI.
 */
import t from 'tap';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startGateway, type RunningGateway } from '../../src/gateway/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { PostgresAuditLog, verifyPostgresLog } from '../../src/audit/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { memoryLogger, setupGateway } from '../helpers/gateway.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';
import { waitFor } from '../helpers/net.js';
import { filesUnder } from '../helpers/phi.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { readFileSync } from 'node:fs';

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

t.test('two gateways on one PostgreSQL: shared consents, withdrawals seen by the other node, one audit log, no PHI at rest', async (t) => {
  const url = await server.newDatabase();
  const a = await setupGateway(t, (c) => (c.store = { kind: 'postgres', url, nodeId: 'gw-a' }));
  const keys = await loadOrCreateKeyStore(a.config.certsDir);
  keys.demoRecipient(DESTINATION);
  const sim = await startRecordingSimulator(a.config.certsDir, a.simPort);
  // The second node: its own data folder, the first node's certificates and keys (docs/ha.md).
  const bDir = join(a.dir, 'node-b');
  cpSync(a.config.certsDir, join(bDir, 'certs'), { recursive: true });
  const bConfig = { ...a.config, dataDir: join(bDir, 'data'), certsDir: join(bDir, 'certs'), store: { kind: 'postgres' as const, url, pool: {}, nodeId: 'gw-b' } };
  const logs = { a: memoryLogger(), b: memoryLogger() };
  let gwA: RunningGateway | undefined = await startGateway(a.config, { logger: logs.a.logger, simulator: false });
  let gwB: RunningGateway | undefined = await startGateway(bConfig, { logger: logs.b.logger, simulator: false });
  t.teardown(async () => {
    await gwA?.stop();
    await gwB?.stop();
    await sim.stop();
  });

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
  await waitFor(() => sim.opened.has(viaB.body.id) && sim.opened.has(viaA.body.id), { timeoutMs: 30_000, what: 'both deliveries' });
  t.match(JSON.parse(sim.opened.get(viaB.body.id)!.payload), { resourceType: 'Observation' }, 'delivered and opened by the receiver');

  // Withdrawn through node B: node A's next message is denied.
  const withdrawn = await fetch(`http://127.0.0.1:${gwB.lanPort}/fhir/Consent/${consent.body.id}`, { method: 'DELETE' });
  t.equal(withdrawn.status, 200, 'withdrawn through node B');
  const after = await post(gwA.lanPort, '/fhir/Observation', observation('pg-p1', 4));
  t.equal(decisionOf(after), 'denied', 'node A denies after node B withdrew');

  // Stop both (the leader signs no more), then the shared log verifies and names both nodes.
  await gwA.stop();
  await gwB.stop();
  gwA = gwB = undefined;
  const log = await PostgresAuditLog.open({ url, nodeId: 'reader', signer: keys.signer(), migrate: false });
  try {
    if ((await log.size()) > ((await log.latestHead())?.treeSize ?? 0)) await log.signTreeHead();
    const r = await verifyPostgresLog(log, keys.signer().publicKey);
    t.ok(r.ok, `the shared log verifies: ${JSON.stringify(r).slice(0, 300)}`);
  } finally {
    await log.close();
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const nodes = (await client.query<{ node: string }>('SELECT DISTINCT node FROM audit_entries ORDER BY node')).rows.map((r) => r.node);
    t.same(nodes, ['gw-a', 'gw-b'], 'entries name the node that made them');
    const decided = (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_entries WHERE event = 'decided'")).rows[0]!.n;
    t.ok(decided >= 4, `one decision entry per message and destination (${decided})`);
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
  // The fixture's narrative text and patient id reached the database only sealed or tokenized.
  const canaries = ['Routine observation round', 'pg-p1'];
  const hits = filesUnder(server.dir).filter((f) => {
    const bytes = readFileSync(f);
    return canaries.some((c) => bytes.includes(c));
  });
  t.same(hits, [], 'no file of the cluster (tables, WAL) holds the narrative or the patient id');
});
