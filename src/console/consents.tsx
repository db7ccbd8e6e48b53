/**
 * Consents: search by CNIC or MRN (posted, so the identifier stays out of URLs and
 * history), each consent's versions and provisions in plain words, and withdrawal with
 * a reason for consent writers.
 */
import type { ConsentLine } from './types.js';
import { Csrf, Notice } from './layout.js';
import { provisionWords } from './consent-words.js';
import { t } from './strings.js';

/** "35202-1234567-1" or 13 digits → "cnic|35202-1234567-1"; "system|value" and "Patient/x" pass as they are. */
export function patientIdOf(input: string): string {
  const s = input.trim();
  const digits = s.replace(/-/g, '');
  if (/^\d{13}$/.test(digits) && /^(\d{5}-\d{7}-\d|\d{13})$/.test(s)) return `cnic|${digits.slice(0, 5)}-${digits.slice(5, 12)}-${digits.slice(12)}`;
  return s;
}

export const ConsentsPage = (p: { csrf: string; q?: string; results?: ConsentLine[]; canWithdraw: boolean; done?: string; error?: string }) => (
  <div>
    <h1>{t('consents')}</h1>
    <form method="post" action="/console/consents" role="search" aria-label="Find a patient's consents" class="filters">
      <Csrf value={p.csrf} />
      <div class="field wide">
        <label for="q">CNIC or MRN</label>
        <input id="q" name="q" required autocomplete="off" value={p.q ?? ''} aria-describedby="q-hint" />
        <small id="q-hint" class="muted">
          A CNIC (35202-1234567-1), an MRN with its system (http://hospital.example/mrn|12345), or Patient/id.
        </small>
      </div>
      <div class="field">
        <button type="submit">{t('search')}</button>
      </div>
    </form>
    {p.done && <Notice tone="ok">{p.done}</Notice>}
    {p.error && <Notice tone="bad">{p.error}</Notice>}
    {p.results && (
      <p role="status" class="muted">
        {p.results.length === 0 ? 'No consent on file for this patient.' : `${p.results.length} consent${p.results.length === 1 ? '' : 's'} on file.`}
      </p>
    )}
    {p.results?.map((c) => (
      <section class="consent" aria-label={`Consent ${c.id}`}>
        <h2>
          Consent <code>{c.id}</code>: <span class={`state ${c.status === 'active' ? 'delivered' : 'dead'}`}>{c.status}</span>
        </h2>
        <ul class="provisions">
          {provisionWords(c.resource).map((l) => (
            <li>{l}</li>
          ))}
        </ul>
        <table class="grid">
          <caption>Versions</caption>
          <thead>
            <tr>
              <th scope="col" class="num">Version</th>
              <th scope="col">Status</th>
              <th scope="col">Stored</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {c.versions.map((v) => (
              <tr>
                <td class="num">{v.version}</td>
                <td>{v.status}</td>
                <td>{v.stored ?? '—'}</td>
                <td>{v.reason ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {p.canWithdraw && c.status === 'active' && (
          <form method="post" action={`/console/consents/${encodeURIComponent(c.id)}/withdraw`} class="inline">
            <Csrf value={p.csrf} />
            <input type="hidden" name="q" value={p.q ?? ''} />
            <label for={`w-${c.id}`}>{t('reason')} for withdrawing (no patient details)</label>
            <input id={`w-${c.id}`} name="reason" required minlength={3} maxlength={200} autocomplete="off" />
            <button type="submit" class="danger">
              {t('withdraw')} consent {c.id}
            </button>
          </form>
        )}
      </section>
    ))}
  </div>
);
