/**
 * One builder per audit event kind. Every place that records an event builds it here,
 * so each kind has one shape: the required fields are checked by the type, `time`
 * may be given as epoch ms, a Date or an ISO string and is stored as an ISO string.
 * Fields left undefined are dropped when the entry is written (toEntry).
 */
import type { AuditEventOf, AuditEventType } from '../model/index.js';

export type AuditTime = string | number | Date;

/** What a builder takes: the event's fields without its tag. */
export type AuditInput<K extends AuditEventType> = Omit<AuditEventOf<K>, 'event' | 'time'> & { time: AuditTime };

const isoOf = (t: AuditTime): string => (typeof t === 'string' ? t : new Date(t).toISOString());

const builder =
  <K extends AuditEventType>(event: K) =>
  (fields: AuditInput<K>): AuditEventOf<K> =>
    ({ ...fields, event, time: isoOf(fields.time) }) as AuditEventOf<K>;

export const auditEvents = {
  received: builder('received'),
  decided: builder('decided'),
  queued: builder('queued'),
  consentWithdrawn: builder('consent-withdrawn'),
  delivered: builder('delivered'),
  deadLettered: builder('dead-lettered'),
  purged: builder('purged'),
  policyActivated: builder('policy-activated'),
  keyRotated: builder('key-rotated'),
  configChanged: builder('config-changed'),
  adminAction: builder('admin-action'),
  logContinued: builder('log-continued'),
} as const;
