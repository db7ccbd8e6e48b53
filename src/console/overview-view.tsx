/**
 * The overview page and its live fragments (the same components render the first page
 * and each server-sent update, so the two never disagree).
 */
import type { ItemStatus } from '../queue/index.js';
import type { ChartSeries } from './live.js';
import type { Action, DestinationRow, Health, Overview } from './overview.js';
import { plainAge, plainBreaker, plainBytes, plainTime } from './plain.js';
import { t } from './strings.js';
import { MessageHead, MessageRow } from './message-row.js';

export const ActionsList = (p: { actions: Action[] }) =>
  p.actions.length === 0 ? (
    <p class="calm">{t('noActions')}</p>
  ) : (
    <ul class="actions">
      {p.actions.map((a) => (
        <li class={a.tone}>
          <span class="sr-only">{a.tone === 'bad' ? 'Problem: ' : 'Warning: '}</span>
          {a.text} — <a href={a.href}>{a.link}</a>
        </li>
      ))}
    </ul>
  );

const Breaker = (p: { state?: string }) => {
  const b = plainBreaker(p.state);
  return <span class={`badge ${b.tone}`}>{b.label}</span>;
};

const Count = (p: { n: number; state: string; name: string; tone?: string }) =>
  p.n === 0 ? (
    <span class="zero">0</span>
  ) : (
    <a class={p.tone} href={`/console/messages?state=${p.state}&destination=${encodeURIComponent(p.name)}`}>
      {p.n}
    </a>
  );

export const DestinationsTable = (p: { rows: DestinationRow[] }) => (
  <table class="grid">
    <caption class="sr-only">Messages per destination</caption>
    <thead>
      <tr>
        <th scope="col">Destination</th>
        <th scope="col">Link</th>
        <th scope="col" class="num">Queued</th>
        <th scope="col" class="num">In flight</th>
        <th scope="col" class="num">Retrying</th>
        <th scope="col" class="num">Dead</th>
        <th scope="col" class="num">Delivered last hour</th>
        <th scope="col" class="num">Delivered last day</th>
        <th scope="col">Oldest waiting</th>
        <th scope="col">Last error</th>
      </tr>
    </thead>
    <tbody>
      {p.rows.map((d) => (
        <tr data-destination={d.name}>
          <th scope="row">{d.name}</th>
          <td>
            <Breaker state={d.breaker} />
          </td>
          <td class="num" data-field="queued">
            <Count n={d.queued} state="queued" name={d.name} />
          </td>
          <td class="num" data-field="delivering">
            <Count n={d.delivering} state="delivering" name={d.name} />
          </td>
          <td class="num" data-field="retrying">
            <Count n={d.retrying} state="retrying" name={d.name} tone="warn" />
          </td>
          <td class="num" data-field="dead">
            <Count n={d.dead} state="dead" name={d.name} tone="bad" />
          </td>
          <td class="num" data-field="delivered-hour">
            {d.deliveredHour}
          </td>
          <td class="num" data-field="delivered-day">
            {d.deliveredDay}
          </td>
          <td>{d.oldestMs === undefined ? '—' : plainAge(d.oldestMs)}</td>
          <td>{d.lastError ?? '—'}</td>
        </tr>
      ))}
    </tbody>
  </table>
);

export const HealthList = (p: { h: Health; now: Date }) => {
  const pct = p.h.quotaBytes > 0 ? Math.round((p.h.heldBytes / p.h.quotaBytes) * 1000) / 10 : 0;
  return (
    <dl class="health">
      <dt>Disk quota</dt>
      <dd>
        <meter min={0} max={100} value={pct} high={80} optimum={0} aria-label="Queue quota used">
          {pct}%
        </meter>{' '}
        {plainBytes(p.h.heldBytes)} of {plainBytes(p.h.quotaBytes)} ({pct}%){p.h.atQuota ? ': full, new messages are refused' : ''}
      </dd>
      <dt>Certificates</dt>
      <dd>
        {p.h.certificates.length === 0
          ? 'none issued here'
          : p.h.certificates.map((c, i) => (
              <span class={c.daysLeft < 0 ? 'bad' : c.daysLeft <= 30 ? 'warn' : undefined}>
                {i > 0 ? ', ' : ''}
                {c.name}: {c.revoked ? 'revoked' : c.daysLeft < 0 ? 'expired' : `${c.daysLeft} days left`}
              </span>
            ))}
      </dd>
      <dt>Policy</dt>
      <dd>
        {p.h.policy.id} version {p.h.policy.version}, {p.h.policy.rules} rules,{' '}
        {p.h.policy.signedBy ? <span class="ok">signed by {p.h.policy.signedBy}</span> : <span class="warn">not signed</span>}{' '}
        <code title={p.h.policy.sha256}>{p.h.policy.sha256.slice(0, 12)}…</code>
      </dd>
      <dt>Audit log</dt>
      <dd>
        {p.h.audit.size} entries;{' '}
        {p.h.audit.head ? `latest signed tree head covers ${p.h.audit.head.treeSize} entries, signed ${plainTime(p.h.audit.head.timestamp, p.now)}` : 'no signed tree head yet'};{' '}
        {p.h.audit.lastVerify ? (
          <span class={p.h.audit.lastVerify.ok ? 'ok' : 'bad'}>
            last verified {plainTime(p.h.audit.lastVerify.at, p.now)}: {p.h.audit.lastVerify.text}
          </span>
        ) : (
          'not verified since the gateway started'
        )}
      </dd>
    </dl>
  );
};

export const RecentList = (p: { items: ItemStatus[]; now: Date }) =>
  p.items.length === 0 ? (
    <p class="calm">No messages yet.</p>
  ) : (
    <table class="grid">
      <caption class="sr-only">Latest messages</caption>
      <thead>
        <MessageHead />
      </thead>
      <tbody>
        {p.items.map((r) => (
          <MessageRow r={r} now={p.now} />
        ))}
      </tbody>
    </table>
  );

/** The fragments a live update replaces, by element id. */
export function liveFragments(o: Overview): Record<string, string> {
  const now = new Date(o.at);
  return {
    'live-actions': String(<ActionsList actions={o.actions} />),
    'live-destinations': String(<DestinationsTable rows={o.destinations} />),
    'live-health': String(<HealthList h={o.health} now={now} />),
    'live-recent': String(<RecentList items={o.recent} now={now} />),
    'live-updated': `updated ${plainTime(o.at, now)}:${String(now.getSeconds()).padStart(2, '0')}`,
  };
}

export const OverviewPage = (p: { o: Overview; chart: ChartSeries }) => {
  const f = liveFragments(p.o);
  const raw = (html: string) => ({ dangerouslySetInnerHTML: { __html: html } });
  return (
    <div data-live="/console/live" data-chart={JSON.stringify(p.chart)}>
      <h1>{t('overview')}</h1>
      <p class="muted" id="live-updated" aria-live="off" {...raw(f['live-updated']!)}></p>
      <section aria-labelledby="h-actions">
        <h2 id="h-actions">{t('actions')}</h2>
        <div id="live-actions" aria-live="polite" {...raw(f['live-actions']!)}></div>
      </section>
      <section aria-labelledby="h-destinations">
        <h2 id="h-destinations">{t('destinations')}</h2>
        <div id="live-destinations" class="scroll" {...raw(f['live-destinations']!)}></div>
      </section>
      <section aria-labelledby="h-charts" class="charts">
        <h2 id="h-charts" class="sr-only">Charts</h2>
        <figure>
          <figcaption>{t('throughput')} (last hour, sampled here since the gateway started)</figcaption>
          <div id="chart-perMinute" class="chart" role="img" aria-label="Deliveries per minute per destination over the last hour"></div>
        </figure>
        <figure>
          <figcaption>{t('depth')} (queued, in flight and retrying)</figcaption>
          <div id="chart-depth" class="chart" role="img" aria-label="Messages waiting per destination over the last hour"></div>
        </figure>
      </section>
      <section aria-labelledby="h-health" id="health">
        <h2 id="h-health">{t('health')}</h2>
        <div id="live-health" {...raw(f['live-health']!)}></div>
      </section>
      <section aria-labelledby="h-recent">
        <h2 id="h-recent">{t('recent')}</h2>
        <div id="live-recent" class="scroll" {...raw(f['live-recent']!)}></div>
      </section>
    </div>
  );
};
