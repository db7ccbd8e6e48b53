/**
 * Messages: the filtered list (ids, destinations, states; never content) and one
 * message's page: where it stands per destination, each destination's decision with
 * reasons, rule ids, policy hash and (for those who may explain) the plain-words trace,
 * and the retry and purge forms for dead letters.
 */
import { ITEM_STATES, type ItemStatus, type ListFilter, type MessageStatus } from '../queue/index.js';
import type { MessageExplanation } from '../pipeline/index.js';
import { Csrf, Notice } from './layout.js';
import { plainError, plainTime } from './plain.js';
import { t } from './strings.js';
import { MessageHead, MessageRow } from './message-row.js';

export interface MessageQuery {
  state?: string;
  destination?: string;
  since?: string;
  until?: string;
  source?: string;
  id?: string;
  before?: string;
}

/** The query string → a store filter; unknown states and bad dates are reported, not guessed. */
export function listFilterOf(q: MessageQuery): { filter: ListFilter; problems: string[] } {
  const problems: string[] = [];
  const filter: ListFilter = { limit: 50, newestFirst: true };
  if (q.state) {
    if ((ITEM_STATES as readonly string[]).includes(q.state)) filter.state = q.state as ListFilter['state'];
    else problems.push(`"${q.state}" is not a state`);
  }
  if (q.destination) filter.destination = q.destination;
  if (q.source) filter.source = q.source;
  if (q.id) filter.messageId = q.id.trim();
  for (const k of ['since', 'until'] as const) {
    if (!q[k]) continue;
    const ms = Date.parse(q[k]!);
    if (Number.isNaN(ms)) problems.push(`${k}: "${q[k]}" is not a date and time`);
    else filter[k] = ms;
  }
  if (q.before && /^\d+$/.test(q.before)) filter.beforeId = Number(q.before);
  return { filter, problems };
}

const Select = (p: { id: string; label: string; value?: string; options: readonly string[] }) => (
  <div class="field">
    <label for={p.id}>{p.label}</label>
    <select id={p.id} name={p.id}>
      <option value="">any</option>
      {p.options.map((o) => (
        <option value={o} selected={o === p.value}>
          {o}
        </option>
      ))}
    </select>
  </div>
);

const Text = (p: { id: string; label: string; value?: string; type?: string; hint?: string }) => (
  <div class="field">
    <label for={p.id}>{p.label}</label>
    <input id={p.id} name={p.id} type={p.type ?? 'text'} value={p.value ?? ''} aria-describedby={p.hint ? `${p.id}-hint` : undefined} />
    {p.hint && (
      <small id={`${p.id}-hint`} class="muted">
        {p.hint}
      </small>
    )}
  </div>
);

export const MessagesPage = (p: { q: MessageQuery; rows: ItemStatus[]; destinations: string[]; problems: string[]; now: Date }) => {
  const last = p.rows[p.rows.length - 1];
  const more = p.rows.length >= 50 && last ? new URLSearchParams({ ...(Object.fromEntries(Object.entries(p.q).filter(([, v]) => v))), before: String(last.id) }).toString() : undefined;
  return (
    <div>
      <h1>{t('messages')}</h1>
      <form method="get" action="/console/messages" class="filters" role="search" aria-label="Filter messages">
        <Select id="state" label="State" value={p.q.state} options={ITEM_STATES} />
        <Select id="destination" label="Destination" value={p.q.destination} options={p.destinations} />
        <Text id="since" label="Received from" type="datetime-local" value={p.q.since} />
        <Text id="until" label="Received before" type="datetime-local" value={p.q.until} />
        <Text id="source" label="Source" value={p.q.source} hint="the sending system's identity" />
        <Text id="id" label="Message id" value={p.q.id} />
        <div class="field">
          <button type="submit">{t('filter')}</button>
        </div>
      </form>
      {p.problems.map((x) => (
        <Notice tone="bad">{x}</Notice>
      ))}
      <p class="muted" role="status">
        {p.rows.length === 0 ? 'No messages match.' : `${p.rows.length}${p.rows.length >= 50 ? '+' : ''} rows, newest first.`}
      </p>
      {p.rows.length > 0 && (
        <div class="scroll">
          <table class="grid">
            <caption class="sr-only">Messages matching the filter</caption>
            <thead>
              <MessageHead full />
            </thead>
            <tbody>
              {p.rows.map((r) => (
                <MessageRow r={r} now={p.now} full />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {more && (
        <p>
          <a href={`/console/messages?${more}`}>Older rows</a>
        </p>
      )}
    </div>
  );
};

interface OutcomeLike {
  name: string;
  decision: string;
  reasons?: string[];
  ruleIds?: string[];
  policy?: { id?: string; version?: string; sha256: string };
  consent?: { id?: string; version?: string; effect: string };
  trace?: string[];
  note?: string;
}

function outcomesOf(m: MessageStatus, x: MessageExplanation | undefined): OutcomeLike[] {
  if (x) return x.destinations as OutcomeLike[];
  return Array.isArray(m.outcomes) ? (m.outcomes as OutcomeLike[]).filter((o) => o && typeof o.name === 'string') : [];
}

export interface MessageRights {
  retry: boolean;
  purge: boolean;
  explain: boolean;
}

const DeadForm = (p: { id: string; destination: string; kind: 'retry' | 'purge'; csrf: string }) => {
  const fid = `${p.kind}-${p.destination}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return (
    <form method="post" action={`/console/messages/${encodeURIComponent(p.id)}/${p.kind}`} class="inline">
      <Csrf value={p.csrf} />
      <input type="hidden" name="destination" value={p.destination} />
      <label for={`${fid}-reason`}>
        {t('reason')} ({p.kind === 'retry' ? 'why send again' : 'why destroy it'}; no patient details)
      </label>
      <input id={`${fid}-reason`} name="reason" required minlength={3} maxlength={200} autocomplete="off" />
      <button type="submit" class={p.kind === 'purge' ? 'danger' : undefined}>
        {p.kind === 'retry' ? `${t('retry')} delivery to ${p.destination}` : `${t('purge')} the copy for ${p.destination}`}
      </button>
    </form>
  );
};

export const MessagePage = (p: { m: MessageStatus; x?: MessageExplanation; rights: MessageRights; csrf: string; now: Date; done?: string; error?: string }) => {
  const outcomes = outcomesOf(p.m, p.x);
  return (
    <div>
      <p>
        <a href="/console/messages">← {t('messages')}</a>
      </p>
      <h1>
        Message <code>{p.m.id}</code>
      </h1>
      {p.done && <Notice tone="ok">{p.done}</Notice>}
      {p.error && <Notice tone="bad">{p.error}</Notice>}
      <dl class="facts">
        <dt>Received</dt>
        <dd>
          <time datetime={p.m.receivedAt}>{p.m.receivedAt}</time>
        </dd>
        <dt>Source</dt>
        <dd>{p.m.source}</dd>
        <dt>Purpose</dt>
        <dd>{p.m.purpose}</dd>
        <dt>Format</dt>
        <dd>{p.m.format}</dd>
        {p.x && (
          <>
            <dt>Policy in force now</dt>
            <dd>
              {p.x.policyInForce.id} {p.x.policyInForce.version} <code>{p.x.policyInForce.sha256.slice(0, 16)}…</code>
            </dd>
          </>
        )}
      </dl>
      <h2>Delivery</h2>
      <div class="scroll">
        <table class="grid">
          <thead>
            <tr>
              <th scope="col">Destination</th>
              <th scope="col">State</th>
              <th scope="col" class="num">Attempts</th>
              <th scope="col">Last change</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {p.m.destinations.map((d) => (
              <tr data-destination={d.destination}>
                <th scope="row">{d.destination}</th>
                <td>
                  <span class={`state ${d.state}`}>{d.state}</span>
                </td>
                <td class="num">{d.attempts}</td>
                <td>{plainTime(d.updatedAt, p.now)}</td>
                <td>{plainError(d.lastError, d.lastStatus) ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {p.m.destinations
        .filter((d) => d.state === 'dead')
        .map((d) => (
          <section class="dead" aria-label={`Dead letter to ${d.destination}`}>
            <h3>Dead letter to {d.destination}</h3>
            <p>{plainError(d.lastError, d.lastStatus) ?? 'no error recorded'}. Fix the cause first (ask the recipient), then retry; purge destroys the sealed copy for good.</p>
            {d.payloadBytes > 0 && p.rights.retry && <DeadForm id={p.m.id} destination={d.destination} kind="retry" csrf={p.csrf} />}
            {p.rights.purge && <DeadForm id={p.m.id} destination={d.destination} kind="purge" csrf={p.csrf} />}
            {!p.rights.retry && !p.rights.purge && <p class="muted">Retrying and purging need the operator role.</p>}
          </section>
        ))}
      <h2>Decisions</h2>
      {outcomes.length === 0 && <p class="muted">No decision recorded.</p>}
      {outcomes.map((o) => (
        <section class="decision" aria-label={`Decision for ${o.name}`}>
          <h3>
            {o.name}: <span class={`state ${o.decision === 'denied' ? 'dead' : 'delivered'}`}>{o.decision === 'denied' ? 'not sent (denied)' : 'permitted and queued'}</span>
          </h3>
          {o.reasons && o.reasons.length > 0 && (
            <ul>
              {o.reasons.map((r) => (
                <li>{r}</li>
              ))}
            </ul>
          )}
          <dl class="facts">
            <dt>Rules</dt>
            <dd>{o.ruleIds?.length ? o.ruleIds.map((r, i) => <>{i > 0 ? ', ' : ''}<code>{r}</code></>) : '—'}</dd>
            <dt>Policy</dt>
            <dd>{o.policy ? <><span>{o.policy.id} {o.policy.version}</span> <code title={o.policy.sha256}>{o.policy.sha256}</code></> : '—'}</dd>
            <dt>Consent</dt>
            <dd>{o.consent ? `${o.consent.effect}${o.consent.id ? ` (Consent/${o.consent.id}${o.consent.version ? ` version ${o.consent.version}` : ''})` : ''}` : 'none recorded'}</dd>
          </dl>
          {o.note && <p class="muted">{o.note}</p>}
          {o.trace && (
            <details open>
              <summary>How the policy reasoned (rule by rule)</summary>
              <pre class="trace">{o.trace.join('\n')}</pre>
            </details>
          )}
        </section>
      ))}
      {!p.rights.explain && <p class="muted">The rule-by-rule trace is shown to auditors and admins.</p>}
    </div>
  );
};
