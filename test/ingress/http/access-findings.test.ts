/**
 * The access findings on the LAN and admin APIs, from outside: real HTTP(S) to an
 * in-process gateway, real client certificates from darwaza's CA, real API tokens.
 */
import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startGateway } from '../../../src/gateway/index.js';
import { ConfigError, resolveConfig, DEMO_CONFIG } from '../../../src/config/index.js';
import { testConfig } from '../../helpers/config.js';
import { runCli } from '../../helpers/processes.js';
import { startFixture } from '../../auth/gateway-fixture.js';
import { consentFor, observation } from '../../../bench/fixtures.js';

t.test('finding 1: the consent registry is closed to certificates without a consent role; writes name their actor and version', async (t) => {
  const f = await startFixture(t, {
    tls: true,
    clients: ['stranger', 'consent-desk', 'portal-reader'],
    patch: (c) => {
      c.access = { clients: { 'consent-desk': { roles: ['consent-writer'] }, 'portal-reader': { roles: ['consent-reader'] } }, consentReadsPerMinute: 3 };
    },
  });
  // Any certificate from our CA used to do all of this.
  const posted = await f.tls('stranger', 'POST', '/fhir/Consent', consentFor('p-find-1'));
  t.equal(posted.status, 403, 'a certificate from our CA with no role cannot create a Consent');
  t.equal(posted.body.resourceType, 'OperationOutcome');
  t.equal(posted.body.issue[0].code, 'forbidden');

  const created = await f.tls('consent-desk', 'POST', '/fhir/Consent', consentFor('p-find-1'));
  t.equal(created.status, 201, 'the consent desk (consent-writer) creates it');
  const id = created.body.id as string;
  const stored = f.audit().filter((e) => e.consentId === id);
  t.equal(stored.length, 1, 'one audit entry for the stored version');
  t.equal(stored[0]!.actor, 'consent-desk', 'which names the authenticated actor');
  t.equal(stored[0]!.consentVersion, '1', 'and the consent version');

  t.equal((await f.tls('stranger', 'GET', '/fhir/Consent?patient=p-find-1')).status, 403, 'the stranger cannot search by patient');
  t.equal((await f.tls('stranger', 'GET', `/fhir/Consent/${id}`)).status, 403, 'nor read by id (no enumeration of local ids)');
  t.equal((await f.tls('stranger', 'PUT', `/fhir/Consent/${id}`, { ...consentFor('p-find-1'), id })).status, 403, 'nor overwrite');
  t.equal((await f.tls('stranger', 'DELETE', `/fhir/Consent/${id}`)).status, 403, 'nor withdraw');
  t.equal((await f.tls('portal-reader', 'DELETE', `/fhir/Consent/${id}`)).status, 403, 'a consent-reader cannot withdraw either');

  const denied = f.audit('access-denied');
  t.ok(denied.length >= 6, `every refusal is audited (${denied.length})`);
  t.ok(denied.some((e) => e.actor === 'stranger' && e.action === 'consent.write' && e.route === 'DELETE /fhir/Consent/:id'), 'with actor, action and route pattern');
  t.notMatch(JSON.stringify(denied), /p-find-1/, 'and no patient id');

  const withdrawn = await f.tls('consent-desk', 'DELETE', `/fhir/Consent/${id}`);
  t.equal(withdrawn.status, 200, 'the consent desk withdraws');
  const w = f.audit('consent-withdrawn').find((e) => e.consentId === id);
  t.equal(w?.actor, 'consent-desk', 'the withdrawal names its actor');
  t.equal(w?.consentVersion, '2', 'and the new version');

  // Reads are rate-limited per identity (3 a minute here).
  const statuses: number[] = [];
  let retryAfter: string | string[] | undefined;
  for (let i = 0; i < 4; i++) {
    const r = await f.tls('portal-reader', 'GET', '/fhir/Consent?patient=p-find-1');
    statuses.push(r.status);
    if (r.status === 429) retryAfter = r.headers['retry-after'];
  }
  t.same(statuses, [200, 200, 200, 429], 'the fourth read within a minute is refused');
  t.ok(Number(retryAfter) >= 1, `with Retry-After (${retryAfter})`);
  t.ok(f.audit('access-denied').some((e) => e.actor === 'portal-reader' && /consentReadsPerMinute/.test(String(e.reason))), 'and the limit is audited');
  t.equal((await f.tls('consent-desk', 'GET', '/fhir/Consent?patient=p-find-1')).status, 200, 'another identity has its own bucket');
});

t.test('finding 2: lan.senders is a deprecated alias giving each name the role sender', async (t) => {
  const raw = structuredClone(DEMO_CONFIG) as any;
  raw.lan = { tls: true, allowPlainHttp: false, senders: ['lab-system', 'pharmacy'] };
  raw.access = { clients: { pharmacy: { roles: ['consent-reader'] } } };
  const c = resolveConfig(raw, { file: 'gw.json', baseDir: process.cwd() });
  t.same(c.access.clients['lab-system']?.roles, ['sender'], 'a name only in lan.senders becomes a sender');
  t.same(c.access.clients.pharmacy?.roles, ['consent-reader', 'sender'], 'a name in both keeps its roles and gains sender');
  t.match(c.deprecations[0], /lan\.senders is deprecated.*access\.clients/, 'start is told to move them');
  raw.lan.senders = ['__proto__'];
  t.throws(() => resolveConfig(raw, { file: 'gw.json', baseDir: process.cwd() }), /lan\.senders\[0\]/, 'a name that is not a certificate name is refused with its field');
});

t.test('finding 3: the source cannot be spoofed; only an integration engine claims one, and the audit keeps both', async (t) => {
  const f = await startFixture(t);
  const tokenEhr = f.token('ehr', ['sender']);
  const tokenEngine = f.token('mirth', ['sender'], ['integration-engine']);
  t.equal((await f.http('lan', 'POST', '/fhir/Consent', consentFor('p-find-3'))).status, 201);
  const spoof = await f.http('lan', 'POST', '/fhir/Observation', observation('p-find-3', 1), { authorization: `Bearer ${tokenEhr}`, 'x-source-system': 'pharmacy' });
  t.equal(spoof.status, 202, spoof.body?.issue?.[0]?.details?.text ?? '');
  const m = (await f.gw.store.getMessage(spoof.body.id)) as { source: string };
  t.equal(m.source, 'ehr', 'a plain sender is its own source, whatever X-Source-System says');
  // One leaf per destination decision: the decided entry carries what the received entry did.
  const decided = f.audit('decided').find((e) => e.messageId === spoof.body.id)!;
  t.equal(decided.source, 'ehr');
  t.equal(decided.actor, 'ehr', 'the audit names the authenticated actor');
  t.equal(decided.claimedSource, 'pharmacy', 'and, apart, the claimed source');

  const engine = await f.http('lan', 'POST', '/fhir/Observation', observation('p-find-3', 2), { authorization: `Bearer ${tokenEngine}`, 'x-source-system': 'pharmacy' });
  t.equal(engine.status, 202);
  t.equal(((await f.gw.store.getMessage(engine.body.id)) as { source: string }).source, 'pharmacy', 'an integration engine\'s claim is honoured');
  t.equal(f.audit('decided').find((e) => e.messageId === engine.body.id)?.actor, 'mirth', 'and the engine is still the actor');

  const loop = await f.http('lan', 'POST', '/fhir/Observation', observation('p-find-3', 3), { 'x-source-system': 'pharmacy' });
  t.equal(((await f.gw.store.getMessage(loop.body.id)) as { source: string }).source, 'loopback', 'plain HTTP on loopback is the loopback identity, not the header');
  t.equal((await f.http('lan', 'POST', '/fhir/Observation', observation('p-find-3', 4), { 'x-source-system': 'bad\u0001name' }).catch(() => ({ status: 400 }))).status, 400, 'a malformed claim is a 400');
});

t.test('finding 4: plain HTTP on 0.0.0.0 is refused at start with the field named, exit code 3', async (t) => {
  const config = testConfig((c) => {
    c.listen = { lan: '0.0.0.0:0', admin: '127.0.0.1:0', mllp: null };
  });
  await t.rejects(startGateway(config), { name: 'ConfigError', message: /lan\.tls: the LAN API listens on 0\.0\.0\.0:0 without TLS/ });
  const adminOpen = testConfig((c) => {
    c.listen = { lan: '127.0.0.1:0', admin: '0.0.0.0:0', mllp: null };
  });
  await t.rejects(startGateway(adminOpen), ConfigError);

  const dir = t.testdir();
  const file = join(dir, 'gateway.config.json');
  const raw = structuredClone(DEMO_CONFIG) as any;
  raw.listen = { lan: '0.0.0.0:18080', admin: '127.0.0.1:19090', mllp: null };
  writeFileSync(file, JSON.stringify(raw));
  const r = runCli(['start', '--config', file, '--no-simulator'], { cwd: dir });
  t.equal(r.code, 3, 'the CLI exits 3 like other config errors');
  t.match(r.stderr + r.stdout, /lan\.tls/, 'naming the field');
});

t.test('finding 5: the admin API needs a token (or the loopback grant) for all but /healthz and /readyz; /metrics takes its own token', async (t) => {
  process.env.DZ_TEST_METRICS_TOKEN = 'metrics-scrape-token-0123456789';
  t.teardown(() => delete process.env.DZ_TEST_METRICS_TOKEN);
  const f = await startFixture(t, {
    patch: (c) => {
      c.access = { metricsToken: 'env:DZ_TEST_METRICS_TOKEN' };
    },
  });
  for (const path of ['/status', '/messages/x/explain', '/metrics']) {
    const r = await f.http('admin', 'GET', path);
    t.equal(r.status, 401, `${path} without credentials: 401`);
    t.match(r.headers.get('www-authenticate') ?? '', /^Bearer/, 'with WWW-Authenticate: Bearer');
  }
  t.equal((await f.http('admin', 'GET', '/status', undefined, { authorization: 'Bearer dz_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status, 401, 'an unknown token: 401');
  t.equal((await f.http('admin', 'GET', '/healthz')).status, 200, '/healthz stays open');
  t.equal((await f.http('admin', 'GET', '/readyz')).status, 200, '/readyz stays open for load balancers');
  const op = f.token('ops', ['operator']);
  t.equal((await f.http('admin', 'GET', '/status', undefined, { authorization: `Bearer ${op}` })).status, 200, 'an operator token reads /status');
  const sender = f.token('ehr', ['sender']);
  t.equal((await f.http('admin', 'GET', '/status', undefined, { authorization: `Bearer ${sender}` })).status, 403, 'a sender token does not');
  t.equal((await f.http('admin', 'GET', '/metrics', undefined, { authorization: 'Bearer metrics-scrape-token-0123456789' })).status, 200, 'the metrics token reads /metrics');
  t.equal((await f.http('admin', 'GET', '/status', undefined, { authorization: 'Bearer metrics-scrape-token-0123456789' })).status, 401, 'and nothing else');
  t.ok(f.audit('access-denied').some((e) => e.route === 'GET /status' && e.actor === 'ehr'), 'admin refusals are audited');
});

t.test('finding 6: GET /messages/{id} answers only its sender, an operator or an auditor', async (t) => {
  const f = await startFixture(t, { patch: (c) => void (c.access = {}) });
  const writer = f.token('desk', ['consent-writer']);
  t.equal((await f.http('lan', 'POST', '/fhir/Consent', consentFor('p-find-6'), { authorization: `Bearer ${writer}` })).status, 201);
  const a = f.token('ehr-a', ['sender']);
  const b = f.token('ehr-b', ['sender']);
  const posted = await f.http('lan', 'POST', '/fhir/Observation', observation('p-find-6', 1), { authorization: `Bearer ${a}` });
  t.equal(posted.status, 202);
  const get = (token?: string) => f.http('lan', 'GET', `/messages/${posted.body.id}`, undefined, token ? { authorization: `Bearer ${token}` } : {});
  t.equal((await get(a)).status, 200, 'its sender reads it');
  t.equal((await get(b)).status, 403, 'another sender does not');
  t.equal((await f.http('lan', 'GET', '/messages/no-such-id', undefined, { authorization: `Bearer ${b}` })).status, 403, 'an unknown id is 403 for a sender too (no probing)');
  t.equal((await get(f.token('ops', ['operator']))).status, 200, 'an operator does');
  t.equal((await get(f.token('aud', ['auditor']))).status, 200, 'an auditor does');
  t.equal((await get(writer)).status, 403, 'a consent writer does not');
  t.equal((await get()).status, 401, 'nobody (no loopback grant) gets 401');
});

t.test('break glass over HTTP: ETREAT needs the grant and a reason; each use is audited without digits', async (t) => {
  const f = await startFixture(t, { patch: (c) => void (c.access = {}) });
  const plain = f.token('ehr', ['sender']);
  const er = f.token('er-desk', ['sender'], ['break-glass']);
  const send = (token: string, headers: Record<string, string>, n: number) =>
    f.http('lan', 'POST', '/fhir/Observation', observation('p-bg', n), { authorization: `Bearer ${token}`, 'x-purpose-of-use': 'ETREAT', ...headers });
  const noGrant = await send(plain, { 'x-break-glass-reason': 'unconscious' }, 1);
  t.equal(noGrant.status, 403, 'a sender without break-glass cannot use ETREAT');
  t.match(noGrant.body.issue[0].details.text, /break-glass/);
  t.equal((await send(er, {}, 2)).status, 403, 'with the grant but no X-Break-Glass-Reason: refused');
  const ok = await send(er, { 'x-break-glass-reason': 'MRN 12345 unconscious in bay 7, no consent on file' }, 3);
  t.equal(ok.status, 202, 'with the grant and a reason: accepted');
  const bg = f.audit('break-glass');
  t.equal(bg.length, 1, 'one break-glass entry');
  t.equal(bg[0]!.actor, 'er-desk');
  t.equal(bg[0]!.messageId, ok.body.id);
  t.equal(bg[0]!.protocol, 'http');
  t.notMatch(String(bg[0]!.reason), /[0-9]/, `the stated reason has no digits: "${bg[0]!.reason}"`);
  t.match(String(bg[0]!.reason), /unconscious/);
  t.ok(f.audit('access-denied').filter((e) => e.action === 'purpose.etreat').length === 2, 'both refusals audited');
});
