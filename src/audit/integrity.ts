/**
 * The audit event for a stored row that failed its integrity check (a forged or altered
 * row in the database file): which table, which row by its own identifiers, and why — never
 * any content of the row. The row is refused, never acted on; this says so in the log.
 */
import type { AuditEvent } from '../model/index.js';

export type IntegrityTable = 'consent_version' | 'consent_current' | 'consent_token' | 'queue_items';

export interface IntegrityFailure {
  table: IntegrityTable;
  /** Fixed words (no values from the row): e.g. 'not encrypted', 'failed authentication'. */
  reason: string;
  time: Date | string;
  consentId?: string;
  consentVersion?: number | string;
  messageId?: string;
  destination?: string;
}

/**
 * A forged row's identifiers are attacker-chosen: one that is not a plain identifier is left
 * out (and said to be), so the audit entry is always accepted and the refusal always recorded.
 */
const PLAIN_ID = /^[A-Za-z0-9._:|+=#~-]{1,128}$/;
const PLAIN_NAME = /^[A-Za-z0-9 ._:|+=#~-]{1,128}$/;

export function integrityFailureEvent(f: IntegrityFailure): AuditEvent {
  let hidden = false;
  const keep = (name: string, value: string | number | undefined, shape: RegExp) => {
    if (value === undefined) return {};
    if (shape.test(String(value))) return { [name]: String(value) };
    hidden = true;
    return {};
  };
  const ids = {
    ...keep('consentId', f.consentId, PLAIN_ID),
    ...keep('consentVersion', f.consentVersion, PLAIN_ID),
    ...keep('messageId', f.messageId, PLAIN_ID),
    ...keep('destination', f.destination, PLAIN_NAME),
  };
  return {
    event: 'integrity-failure',
    time: typeof f.time === 'string' ? f.time : f.time.toISOString(),
    decision: 'refused',
    ...ids,
    reason: `row of ${f.table} refused: ${f.reason}${hidden ? ' (an identifier of the row was not well-formed and is not shown)' : ''}`,
  };
}
