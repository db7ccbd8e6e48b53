/**
 * Audit (auditors): the signed tree heads, verify now, the export download, one
 * patient's disclosures (by token; the identifier is posted, never put in a URL), and
 * the breach and break-glass reports.
 */
import type { BreachReport, BreakGlassReport, DisclosureRow, SignedTreeHead } from '../audit/index.js';
import type { LastVerify } from './overview.js';
import { Csrf, Notice } from './layout.js';
import { t } from './strings.js';

export interface AuditRights {
  verify: boolean;
  export: boolean;
  disclosures: boolean;
}

export const VerifyResult = (p: { v?: LastVerify }) =>
  p.v ? (
    <Notice tone={p.v.ok ? 'ok' : 'bad'}>
      {p.v.ok ? 'Verified: ' : 'Verification FAILED: '}
      {p.v.text} ({p.v.at})
    </Notice>
  ) : (
    <p class="muted">Not verified since the gateway started.</p>
  );

export const AuditPage = (p: {
  csrf: string;
  size: number;
  heads: SignedTreeHead[];
  lastVerify?: LastVerify;
  rights: AuditRights;
  disclosures?: { rows: DisclosureRow[] };
  breach?: BreachReport;
  breakGlass?: BreakGlassReport;
  error?: string;
}) => (
  <div>
    <h1>{t('audit')}</h1>
    {p.error && <Notice tone="bad">{p.error}</Notice>}
    <section aria-labelledby="h-verify">
      <h2 id="h-verify">Integrity</h2>
      <p>
        The log holds {p.size} entries; {p.heads.length} signed tree heads.
      </p>
      <div id="verify-result" aria-live="polite">
        <VerifyResult v={p.lastVerify} />
      </div>
      {p.rights.verify && (
        <form method="post" action="/console/audit/verify" hx-post="/console/audit/verify" hx-target="#verify-result" hx-indicator="#verify-progress" hx-disabled-elt="find button">
          <Csrf value={p.csrf} />
          <button type="submit">{t('verifyNow')}</button>{' '}
          <span id="verify-progress" class="htmx-indicator" role="status">
            Verifying every entry and signed head…
          </span>
        </form>
      )}
      {p.rights.export && (
        <p>
          <a href="/console/audit/export" download>
            Download a verifiable export
          </a>{' '}
          <span class="muted">(a .tar: unpack it and run darwaza audit verify --offline DIR anywhere)</span>
        </p>
      )}
      <details>
        <summary>Latest signed tree heads</summary>
        <table class="grid">
          <thead>
            <tr>
              <th scope="col" class="num">Entries</th>
              <th scope="col">Signed</th>
              <th scope="col">Root hash</th>
              <th scope="col">Key</th>
            </tr>
          </thead>
          <tbody>
            {p.heads
              .slice(-20)
              .reverse()
              .map((h) => (
                <tr>
                  <td class="num">{h.treeSize}</td>
                  <td>{new Date(h.timestamp).toISOString()}</td>
                  <td>
                    <code>{h.rootHash.slice(0, 16)}…</code>
                  </td>
                  <td>
                    <code>{h.keyId.slice(0, 12)}</code>
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </section>
    {p.rights.disclosures && (
      <section aria-labelledby="h-disc">
        <h2 id="h-disc">Disclosures for one patient</h2>
        <form method="post" action="/console/audit/disclosures" class="filters">
          <Csrf value={p.csrf} />
          <div class="field wide">
            <label for="patient">CNIC, MRN (system|value) or Patient/id</label>
            <input id="patient" name="patient" required autocomplete="off" />
          </div>
          <div class="field">
            <button type="submit">Show disclosures</button>
          </div>
        </form>
        {p.disclosures && (
          <>
            <p role="status" id="disclosures-summary">
              {p.disclosures.rows.length} audited events, {p.disclosures.rows.filter((r) => r.disclosed).length} disclosures (data delivered).
            </p>
            <table class="grid">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Event</th>
                  <th scope="col">Destination</th>
                  <th scope="col">Purpose</th>
                  <th scope="col">Data</th>
                  <th scope="col">Consent</th>
                  <th scope="col">Policy</th>
                </tr>
              </thead>
              <tbody>
                {p.disclosures.rows.map((r) => (
                  <tr>
                    <td>{r.time}</td>
                    <td>{r.event}</td>
                    <td>{r.destination ?? '—'}</td>
                    <td>{r.purpose ?? '—'}</td>
                    <td>{r.dataClasses?.join(', ') ?? '—'}</td>
                    <td>{r.consentId ? `${r.consentId}${r.consentVersion ? ` v${r.consentVersion}` : ''}` : 'none recorded'}</td>
                    <td>{r.policySha256 ? <code>{r.policySha256.slice(0, 12)}…</code> : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    )}
    {p.rights.export && (
      <section aria-labelledby="h-reports">
        <h2 id="h-reports">Reports</h2>
        <form method="get" action="/console/audit/reports" class="filters">
          <div class="field">
            <label for="kind">Report</label>
            <select id="kind" name="kind">
              <option value="breach">Breach notification (patients by token)</option>
              <option value="break-glass">Break-glass uses</option>
            </select>
          </div>
          <div class="field">
            <label for="since">From</label>
            <input id="since" name="since" type="datetime-local" />
          </div>
          <div class="field">
            <label for="until">Until</label>
            <input id="until" name="until" type="datetime-local" />
          </div>
          <div class="field">
            <button type="submit">Make the report</button>
          </div>
        </form>
        {p.breach && (
          <div class="report" role="status">
            <h3>Breach report</h3>
            <p>
              {p.breach.window.since} to {p.breach.window.until}: {p.breach.patients.length} patients affected, {p.breach.messages} messages, {p.breach.entries} audit entries.
            </p>
            <p>Data classes: {p.breach.dataClasses.length ? p.breach.dataClasses.join(', ') : 'none recorded'}.</p>
            <details>
              <summary>Patients (pseudonymous tokens; resolve them on the appliance only)</summary>
              <ul class="tokens">
                {p.breach.patients.map((x) => (
                  <li>
                    <code>{x}</code>
                  </li>
                ))}
              </ul>
            </details>
          </div>
        )}
        {p.breakGlass && (
          <div class="report" role="status">
            <h3>Break-glass uses</h3>
            <p>{p.breakGlass.uses} uses.</p>
            <ul>
              {p.breakGlass.actors.map((a) => (
                <li>
                  {a.actor}: {a.uses} uses, first {a.first}, last {a.last}
                </li>
              ))}
            </ul>
            <table class="grid">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Who</th>
                  <th scope="col">Reason given</th>
                </tr>
              </thead>
              <tbody>
                {p.breakGlass.entries.map((e) => (
                  <tr>
                    <td>{e.time}</td>
                    <td>{e.actor}</td>
                    <td>{e.reason ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    )}
  </div>
);
