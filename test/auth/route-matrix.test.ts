/**
 * The role matrix over real routes: every LAN and admin route × every role (a real API
 * token holding only that role), the metrics token and no identity, sent as real HTTP
 * requests to an in-process gateway; the answer must match what the route table and
 * authorize say (src/auth routeExpectation). The table is printed, and docs/security.md
 * must carry the same one between its route-matrix markers.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTE_RULES, ASKERS, routeExpectation, routeMatrixMarkdown, type Asker, type RouteRule } from '../../src/auth/index.js';
import { REPO } from '../helpers/processes.js';
import { startFixture } from './gateway-fixture.js';
import { consentFor, observation } from '../../bench/fixtures.js';

const METRICS_TOKEN = 'route-matrix-metrics-token-0123456789';

t.test('every route × every role answers as the table says', async (t) => {
  process.env.DZ_MATRIX_METRICS = METRICS_TOKEN;
  t.teardown(() => delete process.env.DZ_MATRIX_METRICS);
  const f = await startFixture(t, { patch: (c) => void (c.access = { metricsToken: 'env:DZ_MATRIX_METRICS', consentReadsPerMinute: 100000 }) });
  const tokens = new Map<Asker, string>();
  for (const a of ASKERS) {
    if (a === 'metrics token') tokens.set(a, METRICS_TOKEN);
    else if (a !== 'no identity') tokens.set(a, f.token(`as-${a}`, [a]));
  }
  // Fixtures the routes need: a consent (by a writer) and a message sent by the "sender" role's token.
  const writer = f.token('fixture-writer', ['consent-writer']);
  const consent = await f.http('lan', 'POST', '/fhir/Consent', consentFor('p-matrix'), { authorization: `Bearer ${writer}` });
  t.equal(consent.status, 201);
  const sent = await f.http('lan', 'POST', '/fhir/Observation', observation('p-matrix', 1), { authorization: `Bearer ${tokens.get('sender')}` });
  t.equal(sent.status, 202);
  const messageId = sent.body.id as string;

  const concrete = (r: RouteRule) =>
    r.path.replace('/fhir/:type', '/fhir/Observation').replace(':id/_history/:vid', `${consent.body.id}/_history/1`).replace('/messages/:id', `/messages/${messageId}`).replace(':id', consent.body.id) +
    (r.method === 'GET' && r.path === '/fhir/Consent' ? '?patient=p-matrix' : '');
  const bodyFor = (r: RouteRule) => {
    if (r.method === 'POST' && r.path === '/fhir/Consent') return consentFor('p-matrix-new');
    if (r.method === 'PUT') return { ...consentFor('p-matrix'), id: consent.body.id };
    if (r.method === 'POST' && r.path === '/fhir') return { resourceType: 'Bundle', type: 'collection', entry: [{ resource: observation('p-matrix', 2) }] };
    if (r.method === 'POST') return observation('p-matrix', 3);
    return undefined;
  };

  const rows: string[] = [];
  // DELETE last: it withdraws the consent the other rows read.
  const ordered = [...ROUTE_RULES].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
  for (const r of ordered) {
    const cells: string[] = [];
    for (const a of ASKERS) {
      const expected = routeExpectation(r, a);
      const token = tokens.get(a);
      const res = await f.http(r.api, r.method, concrete(r), bodyFor(r), token ? { authorization: `Bearer ${token}` } : {});
      const allowed = res.status !== 401 && res.status !== 403;
      const want = expected !== 'no';
      t.equal(allowed, want, `${r.api} ${r.method} ${r.path} as ${a}: expected ${expected}, got ${res.status}`);
      if (!allowed) t.equal(res.status, a === 'no identity' || (a === 'metrics token' && r.action !== 'metrics.read') ? 401 : 403, `${r.method} ${r.path} as ${a}: 401 without usable credentials, else 403`);
      cells.push(`${expected}:${res.status}`);
    }
    rows.push(`${r.api.padEnd(5)} ${`${r.method} ${r.path}`.padEnd(40)} ${cells.map((c) => c.padEnd(9)).join(' ')}`);
  }
  t.comment(`\n${'api'.padEnd(5)} ${'route'.padEnd(40)} ${ASKERS.map((a) => a.slice(0, 9).padEnd(9)).join(' ')}\n${rows.join('\n')}`);
});

t.test('docs/security.md carries the route matrix the code makes', async (t) => {
  const doc = readFileSync(join(REPO, 'docs', 'security.md'), 'utf8');
  const m = /<!-- route-matrix:start -->\n([\s\S]*?)\n<!-- route-matrix:end -->/.exec(doc);
  t.ok(m, 'the markers are there');
  t.equal(m?.[1], routeMatrixMarkdown(), 'and the table between them is the generated one');
});
