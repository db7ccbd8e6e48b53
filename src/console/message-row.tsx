/**
 * One message row, as the overview's "latest messages" and the messages page both show it.
 * `full` adds the attempts and waiting-time columns the messages page has room for.
 */
import type { ItemStatus } from '../queue/index.js';
import { plainAge, plainError, plainTime } from './plain.js';

export const MessageHead = (p: { full?: boolean }) => (
  <tr>
    <th scope="col">Message</th>
    <th scope="col">Destination</th>
    <th scope="col">State</th>
    {p.full && <th scope="col" class="num">Attempts</th>}
    <th scope="col">Received</th>
    {p.full && <th scope="col">Waiting</th>}
    <th scope="col">Last error</th>
  </tr>
);

export const MessageRow = (p: { r: ItemStatus; now: Date; full?: boolean }) => {
  const r = p.r;
  return (
    <tr data-message={r.messageId}>
      <td>
        <a href={`/console/messages/${encodeURIComponent(r.messageId)}`}>
          <code>{r.messageId}</code>
        </a>
      </td>
      <td>{r.destination}</td>
      <td>
        <span class={`state ${r.state}`}>{r.state}</span>
      </td>
      {p.full && <td class="num">{r.attempts}</td>}
      <td>{plainTime(r.enqueuedAt, p.now)}</td>
      {p.full && <td>{['queued', 'retrying', 'delivering'].includes(r.state) ? plainAge(p.now.getTime() - Date.parse(r.enqueuedAt)) : '—'}</td>}
      <td>{plainError(r.lastError, r.lastStatus) ?? '—'}</td>
    </tr>
  );
};
