/**
 * The page shell: skip link, navigation (only the pages this identity may open), the
 * sign-out form, and the one stylesheet and scripts, all served from /console/assets.
 * No inline script or style: the content security policy forbids them.
 */
import type { Child } from 'hono/jsx';
import { t } from './strings.js';

export interface NavItem {
  href: string;
  label: string;
  current: boolean;
}

export interface PageProps {
  title: string;
  nav: NavItem[];
  csrf: string;
  who?: string;
  children?: Child;
}

const HTMX_CONFIG = JSON.stringify({ includeIndicatorStyles: false, selfRequestsOnly: true, allowEval: false });

export const Page = (p: PageProps) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="htmx-config" content={HTMX_CONFIG} />
      <title>{`${p.title} · ${t('product')}`}</title>
      <link rel="icon" href="data:," />
      <link rel="stylesheet" href="/console/assets/uPlot.min.css" />
      <link rel="stylesheet" href="/console/assets/console.css" />
      <script src="/console/assets/htmx.min.js" defer></script>
      <script src="/console/assets/uPlot.iife.min.js" defer></script>
      <script src="/console/assets/console.js" defer></script>
    </head>
    <body>
      <a class="skip" href="#main">
        {t('skip')}
      </a>
      <header class="top">
        <span class="brand">{t('product')}</span>
        {p.nav.length > 0 && (
          <nav aria-label="Console">
            <ul>
              {p.nav.map((n) => (
                <li>
                  <a href={n.href} aria-current={n.current ? 'page' : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {p.who && (
          <form method="post" action="/console/sign-out" class="signout">
            <input type="hidden" name="csrf" value={p.csrf} />
            <span class="who">{p.who}</span> <button type="submit">{t('signOut')}</button>
          </form>
        )}
      </header>
      <main id="main" tabindex={-1}>
        {p.children}
      </main>
    </body>
  </html>
);

/** A short notice: role="status" for good news, role="alert" for refusals and failures. */
export const Notice = (p: { tone: 'ok' | 'bad' | 'warn'; children?: Child }) => (
  <p class={`notice ${p.tone}`} role={p.tone === 'ok' ? 'status' : 'alert'}>
    {p.children}
  </p>
);

export const Csrf = (p: { value: string }) => <input type="hidden" name="csrf" value={p.value} />;

export const render = (el: unknown): string => `<!doctype html>${String(el)}`;
