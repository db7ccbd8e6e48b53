/**
 * The console's access rules over real HTTP against an in-process gateway: every console
 * route refuses each role without its action (403, also as an HTML page to a browser
 * session), refuses no identity (401, the sign-in page to a browser), and every page a
 * role may open answers. Sign-in sets an HttpOnly SameSite=Strict cookie that is verified
 * like a bearer token (a revoked or bad token is refused); a change posted from a
 * browser session needs the form's CSRF token and a same-origin Origin.
 */
import t from 'tap';
import { ROLES, ROUTE_RULES, TokenStore, routeExpectation, type RouteRule } from '../../src/auth/index.js';
import { consentFor, patientFor, observation } from '../../bench/fixtures.js';
import { startConsoleRig } from '../helpers/console.js';
import { databaseFile, openDatabase } from '../../src/store/index.js';

const consoleRows = ROUTE_RULES.filter((r) => r.api === 'admin' && (r.path === '/' || r.path.startsWith('/console')));

t.test('every console route × every role: 403 without the action, 401 without identity', async (t) => {
  const rig = await startConsoleRig(t);
  const sender = rig.token('lab-system', ['sender', 'consent-writer']);
  await rig.post('/fhir/Patient', patientFor('p-acc'), sender); // registered first: its age is known
  const consent = await rig.post('/fhir/Consent', consentFor('p-acc'), sender);
  const message = await rig.post('/fhir/Observation', observation('p-acc', 1), sender);
  const path = (r: RouteRule) => r.path.replace(':id', r.path.startsWith('/console/consents') ? consent.body.id : message.body.id).replace(':name', 'console.css');
  t.ok(consoleRows.length >= 20, `${consoleRows.length} console routes`);
  for (const role of ROLES) {
    const token = rig.token(`as-${role}`, [role]);
    for (const r of consoleRows) {
      const want = routeExpectation(r, role);
      const res = await fetch(`${rig.admin}${path(r)}`, { method: r.method, headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
      await res.arrayBuffer();
      if (want === 'no') t.equal(res.status, 403, `${r.method} ${r.path} as ${role}: 403`);
      else t.not([401, 403].includes(res.status), true, `${r.method} ${r.path} as ${role}: allowed (${res.status})`);
    }
  }
  for (const r of consoleRows.filter((x) => x.action !== null)) {
    const res = await fetch(`${rig.admin}${path(r)}`, { method: r.method, redirect: 'manual' });
    await res.arrayBuffer();
    t.equal(res.status, 401, `${r.method} ${r.path} without identity: 401`);
  }
  // The refusals are audited like any other (actor, action, route pattern; no ids).
  const denied = rig.audit('access-denied').filter((e) => String(e.route ?? '').includes('/console/'));
  t.ok(denied.length > 0, 'console refusals reach the audit log');
  t.notOk(denied.some((e) => String(e.route).includes(message.body.id)), 'with the route pattern, never a message id');
});

t.test('sign-in cookie: HttpOnly, SameSite=Strict, verified like a bearer token; HTML refusals; CSRF', async (t) => {
  const rig = await startConsoleRig(t);
  const html = { accept: 'text/html' };
  const bad = await fetch(`${rig.admin}/console/sign-in`, { method: 'POST', body: new URLSearchParams({ token: 'dz_nonsense_token' }), redirect: 'manual' });
  t.equal(bad.status, 401, 'a bad token is refused');
  t.match(await bad.text(), /That token was not accepted/, 'in words');
  t.notOk(bad.headers.get('set-cookie'), 'and no cookie is set');
  const refusedSignIns = rig.audit('access-denied').filter((e) => e.route === 'POST /console/sign-in');
  t.equal(refusedSignIns.length, 1, 'a refused sign-in is an access-denied audit entry');
  t.match(refusedSignIns[0], { actor: 'unauthenticated', action: 'console.view', reason: /./ });
  t.notMatch(JSON.stringify(refusedSignIns[0]), /dz_nonsense_token/, 'never the token typed');

  const reader = rig.token('desk-reader', ['consent-reader']);
  const ok = await fetch(`${rig.admin}/console/sign-in`, { method: 'POST', body: new URLSearchParams({ token: reader }), redirect: 'manual' });
  t.equal(ok.status, 303);
  t.equal(ok.headers.get('location'), '/console/consents', 'a consent reader lands on consents');
  const setCookie = ok.headers.get('set-cookie') ?? '';
  t.match(setCookie, /darwaza_console=/);
  t.match(setCookie, /HttpOnly/i, 'HttpOnly');
  t.match(setCookie, /SameSite=Strict/i, 'SameSite=Strict');
  const cookie = setCookie.split(';')[0]!;

  const overview = await fetch(`${rig.admin}/console/`, { headers: { cookie, ...html } });
  t.equal(overview.status, 403, 'the overview needs console.view');
  const page = await overview.text();
  t.match(page, /<h1>You do not have the rights for this page<\/h1>/, 'a browser gets a page, not JSON');
  t.match(page, /consent-reader/, 'naming why');
  t.equal(overview.headers.get('content-security-policy')?.includes("script-src 'self'"), true, 'pages carry a content security policy');

  const consents = await fetch(`${rig.admin}/console/consents`, { headers: { cookie, ...html } });
  t.equal(consents.status, 200, 'the page its role allows opens with the cookie');
  const csrf = /name="csrf" value="([^"]+)"/.exec(await consents.text())?.[1];
  t.ok(csrf, 'forms carry a CSRF token');
  const search = (headers: Record<string, string>, body: Record<string, string>) =>
    fetch(`${rig.admin}/console/consents`, { method: 'POST', headers: { cookie, ...html, ...headers }, body: new URLSearchParams(body), redirect: 'manual' });
  t.equal((await search({ origin: rig.admin }, { q: '35202-1234567-1', csrf: csrf! })).status, 200, 'a same-origin form with its token works');
  t.equal((await search({ origin: rig.admin }, { q: '35202-1234567-1' })).status, 400, 'without the token: refused');
  t.equal((await search({ origin: 'http://evil.example' }, { q: '35202-1234567-1', csrf: csrf! })).status, 400, 'from another origin: refused');
  t.equal((await search({ origin: rig.admin }, { q: '35202-1234567-1', csrf: 'x'.repeat(43) })).status, 400, 'with a wrong token: refused');

  // Revoking the token ends the session at once: the cookie is checked like a bearer token on every request.
  // Revoked from another connection, the way `darwaza tokens revoke` does beside a running gateway.
  const db = openDatabase(databaseFile(rig.setup.config.dataDir));
  const store = TokenStore.open(db);
  const info = store.list().find((x) => x.name === 'desk-reader');
  store.revoke(info!.id);
  db.close();
  const after = await fetch(`${rig.admin}/console/consents`, { headers: { cookie, ...html } });
  t.equal(after.status, 401, 'a revoked token is refused');
  t.match(await after.text(), /Please sign in/, 'with the sign-in page');
  t.match(after.headers.get('set-cookie') ?? '', /darwaza_console=;/, 'and the cookie is cleared');

  // Assets ship inside: no page names another host.
  for (const name of ['htmx.min.js', 'uPlot.iife.min.js', 'uPlot.min.css', 'console.js', 'console.css']) {
    const a = await fetch(`${rig.admin}/console/assets/${name}`);
    t.equal(a.status, 200, `${name} is served`);
    t.ok((await a.text()).length > 100);
  }
  t.equal((await fetch(`${rig.admin}/console/assets/..%2Fapp.tsx`)).status, 404, 'nothing else is');
});
