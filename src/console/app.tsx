/**
 * The operator's console on the admin listener: server-rendered pages (hono JSX), a
 * little JavaScript (htmx, uPlot, console.js), live figures by server-sent events.
 * Every page is guarded by its row in the admin route table (src/auth), like the JSON
 * routes; the browser session is a cookie holding the API token (session.ts). Forms that
 * change something need the CSRF token unless the request carried its own Authorization.
 * Refusals answer HTML to a browser: the sign-in page for 401, a plain page for 403.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { authorize, routeRule, type Identity, type RouteRule } from '../auth/index.js';
import { scrubBreakGlassReason } from '../audit/index.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { ConsoleDeps, ConsentLine } from './types.js';
import { Notice, Page, render, type NavItem } from './layout.js';
import { gatherOverview, type LastVerify, type Overview } from './overview.js';
import { OverviewPage, liveFragments } from './overview-view.js';
import { MessagePage, MessagesPage, listFilterOf, type MessageQuery } from './messages.js';
import { ConsentsPage, patientIdOf } from './consents.js';
import { AuditPage, VerifyResult, type AuditRights } from './audit-view.js';
import { PolicyPage } from './policy-view.js';
import { Sampler } from './live.js';
import { consoleAsset } from './assets.js';
import { tarOf } from './tar.js';
import { Csrf as CsrfTokens, SESSION_COOKIE, explicitAuth, sessionToHeader } from './session.js';
import { t } from './strings.js';

export interface ConsoleApp {
  app: Hono;
  /** Ends live streams and timers (before the listener closes). */
  close(): void;
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const NAV: { path: string; label: string; action: RouteRule['path'] }[] = [
  { path: '/console/', label: t('overview'), action: '/console/' },
  { path: '/console/messages', label: t('messages'), action: '/console/messages' },
  { path: '/console/consents', label: t('consents'), action: '/console/consents' },
  { path: '/console/audit', label: t('audit'), action: '/console/audit' },
  { path: '/console/policy', label: t('policy'), action: '/console/policy' },
];

type Method = RouteRule['method'];

const wantsHtml = (c: Context) => (c.req.header('accept') ?? '').includes('text/html');

export function createConsoleApp(deps: ConsoleDeps): ConsoleApp {
  const app = new Hono();
  const clock = deps.clock ?? (() => new Date());
  const csrf = new CsrfTokens();
  const streams = new Set<SSEStreamingApi>();
  const sampler = new Sampler();
  let lastVerify: LastVerify | undefined;
  let previousPolicy: CompiledPolicy | undefined;
  let seenPolicy = deps.policy();
  let closed = false;

  const open: MiddlewareHandler = async (_c, next) => next();
  const guard = (method: Method, path: string): MiddlewareHandler => (deps.auth ? deps.auth.guard(routeRule('admin', method, path)) : open);
  const identity = (c: Context): Identity | undefined => deps.auth?.identityOf(c);
  const may = (c: Context, method: Method, path: string): boolean => {
    if (!deps.auth) return true;
    const action = routeRule('admin', method, path).action;
    return action === null || authorize(identity(c), action).allowed;
  };
  const actor = (c: Context) => identity(c)?.name ?? 'console';
  const nav = (c: Context, current: string): NavItem[] => NAV.filter((n) => may(c, 'GET', n.action)).map((n) => ({ href: n.path, label: n.label, current: n.path === current }));
  const pageHtml = (c: Context, title: string, current: string, body: unknown) =>
    render(
      <Page title={title} nav={nav(c, current)} csrf={csrf.tokenFor(c)} who={identity(c)?.name}>
        {body as never}
      </Page>,
    );
  const page = (c: Context, title: string, current: string, body: unknown, status: 200 | 400 | 401 | 403 | 404 = 200) => c.html(pageHtml(c, title, current, body), status);
  const policyNow = () => {
    const p = deps.policy();
    if (p.sha256 !== seenPolicy.sha256) {
      previousPolicy = seenPolicy;
      seenPolicy = p;
    }
    return p;
  };

  // Headers for every console answer; the session cookie becomes the Authorization header.
  app.use('/console/*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer the browser sends "Origin: null" on our own forms.
    c.header('Referrer-Policy', 'same-origin');
    c.header('X-Frame-Options', 'DENY');
    if (!c.req.path.startsWith('/console/assets/')) c.header('Cache-Control', 'no-store');
  });
  app.use('/console/*', sessionToHeader);
  // A browser refused by a guard gets a page, not an OperationOutcome.
  app.use('/console/*', async (c, next) => {
    await next();
    const status = c.res.status;
    if ((status !== 401 && status !== 403 && status !== 429) || !wantsHtml(c) || !(c.res.headers.get('content-type') ?? '').includes('json')) return;
    let reason = '';
    try {
      const body = (await c.res.clone().json()) as { issue?: { details?: { text?: string }; diagnostics?: string }[] };
      reason = body.issue?.[0]?.details?.text ?? body.issue?.[0]?.diagnostics ?? '';
    } catch {
      /* keep the status alone */
    }
    const retryAfter = c.res.headers.get('retry-after');
    const headers = new Headers({ 'content-type': 'text/html; charset=UTF-8' });
    let body: string;
    if (status === 401) {
      headers.set('www-authenticate', 'Bearer realm="darwaza"');
      headers.append('set-cookie', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`);
      body = pageHtml(c, t('signIn'), '', <SignIn error={`Please sign in${reason ? ` (${reason.replace(/^authentication required: /, '')})` : ''}.`} />);
    } else {
      if (retryAfter) headers.set('retry-after', retryAfter);
      body = pageHtml(
        c,
        t('forbidden'),
        '',
        <div>
          <h1>{status === 429 ? 'Too many requests' : t('forbidden')}</h1>
          <Notice tone="bad">{reason || 'Your roles do not allow this.'}</Notice>
          <p>Ask an administrator for a token with the role this page needs (see docs/security.md).</p>
        </div>,
      );
    }
    // Replace, not merge: nothing of the JSON answer (its length, its type) may carry over.
    c.res = undefined as never;
    c.res = new Response(body, { status, headers });
  });
  // Changes need the CSRF token, unless the request carried its own Authorization header.
  const checked: MiddlewareHandler = async (c, next) => {
    if (explicitAuth(c)) return next();
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (!csrf.check(c, (form as Record<string, unknown>).csrf)) {
      return page(c, 'Form expired', '', <Notice tone="bad">This form is out of date or came from another site. Reload the page and try again.</Notice>, 400);
    }
    return next();
  };
  const form = async (c: Context): Promise<Record<string, string>> => {
    const f = await c.req.parseBody().catch(() => ({}));
    return Object.fromEntries(Object.entries(f).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  };
  /** An operator's reason: plain words, digits scrubbed (no identifiers), length-capped. */
  const reasonOf = (raw: string | undefined): string | undefined => {
    const r = scrubBreakGlassReason((raw ?? '').trim());
    return r.replace(/[^\p{L}]/gu, '').length >= 3 ? r : undefined;
  };

  // ---- open routes ----
  // Pointers, not redirects: they answer the same to everyone, whatever the console then decides.
  const pointer = (c: Context) => c.html(render(<Pointer />));
  app.get('/', guard('GET', '/'), pointer);
  app.get('/console', guard('GET', '/console'), pointer);
  app.get('/console/assets/:name', guard('GET', '/console/assets/:name'), (c) => {
    const a = consoleAsset(c.req.param('name'));
    if (!a) return c.text('not found', 404);
    c.header('Content-Type', a.type);
    c.header('Cache-Control', 'max-age=3600');
    return c.body(a.body);
  });
  app.get('/console/sign-in', guard('GET', '/console/sign-in'), (c) => page(c, t('signIn'), '', <SignIn />));
  app.post('/console/sign-in', guard('POST', '/console/sign-in'), async (c) => {
    const token = ((await form(c)).token ?? '').trim();
    if (!token) return page(c, t('signIn'), '', <SignIn error="Paste a token first." />, 400);
    const who = deps.identify(token);
    if (!who.ok) return page(c, t('signIn'), '', <SignIn error={`That token was not accepted: ${who.reason}.`} />, 401);
    setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/', secure: deps.secureCookie ?? false });
    // Land on the first page this identity may open.
    const landing = NAV.find((n) => { const a = routeRule('admin', 'GET', n.action).action; return a === null || authorize(who.identity, a).allowed; });
    return c.redirect(landing?.path ?? '/console/sign-in?none=1', 303);
  });
  app.post('/console/sign-out', guard('POST', '/console/sign-out'), checked, (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/console/sign-in', 303);
  });

  // ---- overview ----
  const overview = async (): Promise<Overview> => {
    policyNow();
    return gatherOverview(deps, lastVerify);
  };
  const sampleEvery = deps.sampleIntervalMs ?? 5_000;
  let sampledAt = 0;
  /** A chart point from figures just read (the timer's, or a live tick's when one is due). */
  const record = (o: Overview) => {
    const at = Date.parse(o.at);
    if (at - sampledAt < sampleEvery * 0.9) return;
    sampledAt = at;
    sampler.add(Date.parse(o.at), Object.fromEntries(o.destinations.map((d) => [d.name, d.queued + d.delivering + d.retrying])), Object.fromEntries(o.destinations.map((d) => [d.name, d.deliveredDay])));
  };
  const sample = async () => {
    if (closed) return;
    try {
      record(await overview());
    } catch {
      /* the store is closing; the next sample will tell */
    }
  };
  void sample();
  const sampleTimer = setInterval(() => void sample(), sampleEvery);
  sampleTimer.unref();

  app.get('/console/', guard('GET', '/console/'), async (c) => {
    const o = await overview();
    return page(c, t('overview'), '/console/', <OverviewPage o={o} chart={sampler.series()} />);
  });
  app.get('/console/live', guard('GET', '/console/live'), async (c) => {
    // Not an EventSource (a script or the route tests): one snapshot as JSON.
    if (!(c.req.header('accept') ?? '').includes('text/event-stream')) {
      const o = await overview();
      return c.json({ overview: o, chart: sampler.series() });
    }
    return streamSSE(c, async (stream) => {
      streams.add(stream);
      stream.onAbort(() => void streams.delete(stream));
      try {
        while (!closed && !stream.aborted && !stream.closed) {
          const o = await overview();
          record(o);
          await stream.writeSSE({ event: 'overview', data: JSON.stringify({ html: liveFragments(o), chart: sampler.series() }) });
          await stream.sleep(deps.liveIntervalMs ?? 2000);
        }
      } catch {
        /* the page went away or the store closed */
      } finally {
        streams.delete(stream);
      }
    });
  });

  // ---- messages ----
  app.get('/console/messages', guard('GET', '/console/messages'), async (c) => {
    const q = c.req.query() as MessageQuery;
    const { filter, problems } = listFilterOf(q);
    const rows = problems.length ? [] : await deps.queue.list(filter);
    return page(c, t('messages'), '/console/messages', <MessagesPage q={q} rows={rows} destinations={deps.destinations()} problems={problems} now={clock()} />, problems.length ? 400 : 200);
  });
  const messagePage = async (c: Context, id: string, notice: { done?: string; error?: string } = {}, status: 200 | 400 = 200) => {
    const m = await deps.queue.getMessage(id);
    if (!m) return page(c, 'Not found', '/console/messages', <Notice tone="bad">No message with this id.</Notice>, 404);
    const rights = {
      retry: may(c, 'POST', '/console/messages/:id/retry'),
      purge: may(c, 'POST', '/console/messages/:id/purge'),
      explain: !deps.auth || authorize(identity(c), 'audit.explain').allowed,
    };
    const x = rights.explain ? await deps.explain(id) : undefined;
    return page(c, `Message ${id}`, '/console/messages', <MessagePage m={m} x={x} rights={rights} csrf={csrf.tokenFor(c)} now={clock()} {...notice} />, status);
  };
  app.get('/console/messages/:id', guard('GET', '/console/messages/:id'), (c) => {
    const done = c.req.query('done');
    return messagePage(c, c.req.param('id'), done === 'retried' ? { done: 'The dead letter is back in the queue; it will be delivered shortly.' } : done === 'purged' ? { done: 'The sealed copy was destroyed. The audit log records who did it and why.' } : {});
  });
  for (const kind of ['retry', 'purge'] as const) {
    app.post(`/console/messages/:id/${kind}`, guard('POST', `/console/messages/:id/${kind}`), checked, async (c) => {
      const id = c.req.param('id');
      const f = await form(c);
      const reason = reasonOf(f.reason);
      // Problems with a form re-render it (200) with the problem named.
      if (!reason) return messagePage(c, id, { error: 'Give a reason in words (at least three letters).' });
      const filter = { messageIds: [id], ...(f.destination ? { destination: f.destination } : {}), reason };
      const n = kind === 'retry' ? await deps.queue.retryDead(filter, actor(c)) : await deps.queue.purge({ ...filter, state: 'dead' }, actor(c));
      if (n === 0) return messagePage(c, id, { error: kind === 'retry' ? 'Nothing to retry: no dead letter of this message still holds its sealed copy.' : 'Nothing to purge: this message has no dead letter.' });
      return c.redirect(`/console/messages/${encodeURIComponent(id)}?done=${kind === 'retry' ? 'retried' : 'purged'}`, 303);
    });
  }

  // ---- consents ----
  const canWithdraw = (c: Context) => may(c, 'POST', '/console/consents/:id/withdraw');
  const search = async (q: string): Promise<{ results?: ConsentLine[]; error?: string }> => {
    try {
      return { results: await deps.consents.search(patientIdOf(q)) };
    } catch (err) {
      return { error: `The search could not be done: ${(err as Error).name === 'OperationOutcomeError' ? (err as Error).message : 'a stored consent could not be read'}` };
    }
  };
  app.get('/console/consents', guard('GET', '/console/consents'), (c) => page(c, t('consents'), '/console/consents', <ConsentsPage csrf={csrf.tokenFor(c)} canWithdraw={canWithdraw(c)} />));
  app.post('/console/consents', guard('POST', '/console/consents'), checked, async (c) => {
    const q = ((await form(c)).q ?? '').trim();
    if (!q) return page(c, t('consents'), '/console/consents', <ConsentsPage csrf={csrf.tokenFor(c)} canWithdraw={canWithdraw(c)} error="Type a CNIC or MRN." />);
    return page(c, t('consents'), '/console/consents', <ConsentsPage csrf={csrf.tokenFor(c)} q={q} canWithdraw={canWithdraw(c)} {...await search(q)} />);
  });
  app.post('/console/consents/:id/withdraw', guard('POST', '/console/consents/:id/withdraw'), checked, async (c) => {
    const f = await form(c);
    const reason = reasonOf(f.reason);
    const q = (f.q ?? '').trim();
    const again = async (notice: { done?: string; error?: string }, status: 200 | 400) =>
      page(c, t('consents'), '/console/consents', <ConsentsPage csrf={csrf.tokenFor(c)} q={q} canWithdraw={canWithdraw(c)} {...(q ? await search(q) : {})} {...notice} />, status);
    if (!reason) return again({ error: 'Give a reason in words (at least three letters).' }, 200);
    try {
      const r = await deps.consents.withdraw(c.req.param('id'), reason, actor(c));
      return again({ done: `Consent ${r.id} withdrawn (version ${r.version}). Queued messages it no longer permits are withdrawn too.` }, 200);
    } catch (err) {
      return again({ error: (err as Error).name === 'ConsentNotFoundError' ? 'No consent with this id.' : 'The consent could not be withdrawn.' }, 200);
    }
  });

  // ---- audit ----
  const auditRights = (c: Context): AuditRights => ({
    verify: may(c, 'POST', '/console/audit/verify'),
    export: may(c, 'GET', '/console/audit/export'),
    disclosures: may(c, 'POST', '/console/audit/disclosures'),
  });
  const auditPage = async (c: Context, extra: Partial<Parameters<typeof AuditPage>[0]> = {}, status: 200 | 400 = 200) =>
    page(c, t('audit'), '/console/audit', <AuditPage csrf={csrf.tokenFor(c)} size={await deps.audit.size()} heads={await deps.audit.heads()} lastVerify={lastVerify} rights={auditRights(c)} {...extra} />, status);
  app.get('/console/audit', guard('GET', '/console/audit'), (c) => auditPage(c));
  app.post('/console/audit/verify', guard('POST', '/console/audit/verify'), checked, async (c) => {
    const r = await deps.audit.verify();
    const at = clock().toISOString();
    lastVerify = r.ok
      ? { at, ok: true, text: `${r.entriesChecked} entries and ${r.heads} signed tree heads check out${r.unsignedTail ? `; ${r.unsignedTail} newer entries await the next signed head` : ''}` }
      : { at, ok: false, text: r.reason };
    if (c.req.header('hx-request') === 'true') return c.html(String(<VerifyResult v={lastVerify} />));
    return auditPage(c);
  });
  app.get('/console/audit/export', guard('GET', '/console/audit/export'), async (c) => {
    const files = await deps.audit.exportFiles();
    const stamp = clock().toISOString().replace(/[:.]/g, '-');
    const dir = `darwaza-audit-${stamp}`;
    const body = tarOf(Object.fromEntries(Object.entries(files).map(([k, v]) => [`${dir}/${k}`, v])));
    c.header('Content-Type', 'application/x-tar');
    c.header('Content-Disposition', `attachment; filename="${dir}.tar"`);
    return c.body(new Uint8Array(body));
  });
  app.post('/console/audit/disclosures', guard('POST', '/console/audit/disclosures'), checked, async (c) => {
    const patient = ((await form(c)).patient ?? '').trim();
    if (!patient) return auditPage(c, { error: 'Type a CNIC, MRN or Patient/id.' });
    return auditPage(c, { disclosures: { rows: await deps.audit.disclosures(patientIdOf(patient)) } });
  });
  app.get('/console/audit/reports', guard('GET', '/console/audit/reports'), async (c) => {
    const q = c.req.query();
    const iso = (v: string | undefined) => (v && !Number.isNaN(Date.parse(v)) ? new Date(Date.parse(v)).toISOString() : undefined);
    const since = iso(q.since);
    const until = iso(q.until);
    if (q.kind === 'break-glass') return auditPage(c, { breakGlass: await deps.audit.breakGlass(since, until) });
    return auditPage(c, { breach: await deps.audit.breach(since ?? new Date(clock().getTime() - 72 * 3_600_000).toISOString(), until ?? clock().toISOString()) });
  });

  // ---- policy ----
  app.get('/console/policy', guard('GET', '/console/policy'), async (c) => {
    const p = policyNow();
    const tests = await deps.policyTests?.();
    return page(c, t('policy'), '/console/policy', <PolicyPage policy={p} previous={previousPolicy} tests={tests} />);
  });

  return {
    app,
    close() {
      closed = true;
      clearInterval(sampleTimer);
      for (const s of streams) void s.close();
      streams.clear();
    },
  };
}

const SignIn = (p: { error?: string }) => (
  <div class="narrow">
    <h1>{t('signIn')}</h1>
    {p.error && <Notice tone="bad">{p.error}</Notice>}
    <form method="post" action="/console/sign-in">
      <div class="field wide">
        <label for="token">{t('token')}</label>
        <input id="token" name="token" type="password" required autocomplete="off" aria-describedby="token-hint" />
        <small id="token-hint" class="muted">
          {t('tokenHelp')}
        </small>
      </div>
      <button type="submit">{t('signIn')}</button>
    </form>
  </div>
);

const Pointer = () => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta http-equiv="refresh" content="0; url=/console/" />
      <title>{t('product')}</title>
      <link rel="icon" href="data:," />
    </head>
    <body>
      <p>
        The console is at <a href="/console/">/console/</a>.
      </p>
    </body>
  </html>
);

