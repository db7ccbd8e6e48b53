/**
 * Audit events for access control: a refused request (access-denied) and a use of break
 * glass. Only names of systems, actions, route patterns and plain-word reasons; the
 * stated break-glass reason is length-capped and its digits scrubbed before the entry's
 * own checks (a person may type a record number into it).
 */
import type { AuditEvent } from '../model/index.js';

export const BREAK_GLASS_REASON_MAX = 120;

/** "METHOD /pattern" and a system name fit the entry's name rule; anything else is replaced. */
const safeName = (s: string) => s.replace(/[^A-Za-z0-9 ._:/@|+=#~-]/g, '_').slice(0, 128) || '_';

export function accessDeniedEvent(e: { time: Date; actor?: string; action: string; route: string; reason: string; protocol?: string }): AuditEvent {
  return {
    event: 'access-denied',
    time: e.time.toISOString(),
    ...(e.actor ? { actor: safeName(e.actor) } : {}),
    action: e.action,
    route: safeName(e.route),
    reason: e.reason,
    protocol: e.protocol ?? 'http',
  };
}

/** The stated reason as stored: digits become '#', at most BREAK_GLASS_REASON_MAX characters. */
export function scrubReasonText(text: string): string {
  return text.replace(/[0-9]/g, '#').replace(/\s+/g, ' ').trim().slice(0, BREAK_GLASS_REASON_MAX);
}

export function breakGlassEvent(e: { time: Date; actor: string; reasonText: string; messageId: string; protocol: 'http' | 'mllp' }): AuditEvent {
  return {
    event: 'break-glass',
    time: e.time.toISOString(),
    actor: safeName(e.actor),
    reasonText: scrubReasonText(e.reasonText),
    messageId: e.messageId,
    protocol: e.protocol,
    purpose: 'ETREAT',
  };
}
