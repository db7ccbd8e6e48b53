/**
 * Facts about a message's data that consent provisions test and classification does not
 * give: the span of its clinical dates (provision.dataPeriod) and its resource references
 * (provision.data). Pure. The pipeline stores both in the queue item's consent context.
 *
 * The data period is coarsened to whole days in the appliance's timezone (less precise
 * dates in the stored context, and never less strict: a wider span can only meet a deny
 * sooner and fit inside a permit later).
 */
import type { FhirResource } from '../model/index.js';
import { DEFAULT_TIMEZONE, parseFhirDateTime, zoneOffsetMinutes } from './time.js';

/** Top-level dateTime/instant elements that date clinical data. */
export const DATA_DATE_FIELDS = [
  'effectiveDateTime',
  'effectiveInstant',
  'issued',
  'recordedDate',
  'onsetDateTime',
  'abatementDateTime',
  'authoredOn',
  'performedDateTime',
  'occurrenceDateTime',
  'date',
  'recorded',
  'created',
  'started',
] as const;
/** Top-level Period elements that date clinical data. */
export const DATA_PERIOD_FIELDS = ['effectivePeriod', 'performedPeriod', 'occurrencePeriod', 'onsetPeriod', 'period'] as const;
/** Resources whose dates are not clinical-data dates (demographics, the consent itself, bundle plumbing). */
const SKIP = new Set(['Patient', 'RelatedPerson', 'Practitioner', 'Organization', 'Consent', 'MessageHeader', 'Provenance', 'AuditEvent']);

function resourcesOf(resource: FhirResource, withContained = true): FhirResource[] {
  const out: FhirResource[] = [];
  const add = (r: unknown) => {
    if (!r || typeof r !== 'object' || typeof (r as FhirResource).resourceType !== 'string') return;
    const res = r as FhirResource;
    if (res.resourceType === 'Bundle') {
      for (const e of Array.isArray(res.entry) ? (res.entry as { resource?: unknown }[]) : []) add(e?.resource);
      return;
    }
    out.push(res);
    if (withContained) for (const c of Array.isArray(res.contained) ? res.contained : []) add(c);
  };
  add(resource);
  return out;
}

function localDay(ms: number, timezone: string): string {
  const d = new Date(ms + zoneOffsetMinutes(timezone, ms) * 60_000);
  return d.toISOString().slice(0, 10);
}

/** The span of the data's clinical dates as whole local days, or undefined when it carries none. */
export function dataPeriodOf(
  resource: FhirResource,
  timezone: string = DEFAULT_TIMEZONE,
): { start: string; end: string } | undefined {
  let start = Infinity;
  let end = -Infinity;
  const take = (v: unknown) => {
    const r = parseFhirDateTime(v, timezone);
    if (!r) return;
    if (r.start < start) start = r.start;
    if (r.end > end) end = r.end;
  };
  for (const r of resourcesOf(resource)) {
    if (SKIP.has(r.resourceType)) continue;
    for (const f of DATA_DATE_FIELDS) take(r[f]);
    for (const f of DATA_PERIOD_FIELDS) {
      const p = r[f] as { start?: unknown; end?: unknown } | undefined;
      if (p && typeof p === 'object') {
        take(p.start);
        take(p.end);
      }
    }
  }
  if (start === Infinity) return undefined;
  return { start: localDay(start, timezone), end: localDay(end, timezone) };
}

/** "Type/id" of every resource in the message that has an id (Bundle entries; contained ids are local, so not them). */
export function dataReferencesOf(resource: FhirResource): string[] {
  const out = new Set<string>();
  for (const r of resourcesOf(resource, false)) {
    if (typeof r.id === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(r.id)) out.add(`${r.resourceType}/${r.id}`);
  }
  return [...out];
}
