/**
 * Audit events for security: a refused identity or role (access-denied), break-glass use,
 * refused TLS handshakes (aggregated, see refusals.ts) and refused policy reloads. Each
 * builder returns a PHI-free AuditEvent; the entry allow-list checks the fields again.
 * securityAlertOf maps these events to the DICOM "Security Alert" event (110113) and its
 * subtype, for the ATNA feed (RFC 3881 / DICOM PS3.15 A.5 codes).
 */
import type { AuditEvent } from '../model/index.js';
import { plainReason } from './entry.js';

/** How long a break-glass reason may be in the audit (the rest is cut). */
export const BREAK_GLASS_REASON_MAX = 120;

/** Identity names as the audit's identifier alphabet allows (a certificate CN could hold anything). */
export function auditName(name: string): string {
  return name.replace(/[^A-Za-z0-9 ._:/@|+=#~-]/g, '_').slice(0, 128) || 'unknown';
}

/**
 * A break-glass reason, fit for the audit: every run of digits replaced by '(n)' (a reason may quote a
 * bed, MRN or phone number), then plain words, capped at BREAK_GLASS_REASON_MAX characters.
 */
export function scrubBreakGlassReason(text: string): string {
  const s = plainReason(text.replace(/[0-9]+/g, '(n)'));
  return s.length > BREAK_GLASS_REASON_MAX ? `${s.slice(0, BREAK_GLASS_REASON_MAX - 1).replace(/\s+\S*$/, '')}…` : s;
}

export interface AccessDeniedInput {
  time: Date;
  /** The identity's name, or undefined for an unknown peer. */
  actor?: string;
  action: string;
  /** 'http' when not given (the LAN and admin APIs). */
  protocol?: string;
  /** The route pattern refused (HTTP), never a query or an id. */
  route?: string;
  reason: string;
  peer?: string;
  plain?: boolean;
}

export function accessDeniedEvent(i: AccessDeniedInput): AuditEvent {
  return {
    event: 'access-denied',
    time: i.time.toISOString(),
    actor: auditName(i.actor ?? 'unauthenticated'),
    action: i.action,
    protocol: i.protocol ?? 'http',
    reason: i.reason,
    ...(i.route ? { route: auditName(i.route) } : {}),
    ...(i.peer ? { peer: i.peer } : {}),
    ...(i.plain ? { plain: true } : {}),
  };
}

export interface BreakGlassInput {
  time: Date;
  actor: string;
  reasonText: string;
  messageId: string;
  protocol: string;
  plain?: boolean;
}

export function breakGlassEvent(i: BreakGlassInput): AuditEvent {
  return {
    event: 'break-glass',
    time: i.time.toISOString(),
    actor: auditName(i.actor),
    messageId: i.messageId,
    purpose: 'ETREAT',
    protocol: i.protocol,
    reason: scrubBreakGlassReason(i.reasonText),
    ...(i.plain ? { plain: true } : {}),
  };
}

export interface TlsRefusedInput {
  time: Date;
  /** The peer's IP, or undefined for an aggregate of many peers. */
  peer?: string;
  /** How many handshakes the entry stands for. */
  count: number;
  protocol: string;
  /** A short code (e.g. the OpenSSL reason), never certificate content. */
  reason: string;
}

export function tlsRefusedEvent(i: TlsRefusedInput): AuditEvent {
  return {
    event: 'tls-refused',
    time: i.time.toISOString(),
    actor: 'gateway',
    protocol: i.protocol,
    count: i.count,
    reason: i.reason,
    ...(i.peer ? { peer: i.peer } : {}),
  };
}

/** A policy reload refused (bad signature, lint errors): the last good policy stays in force. */
export function policyRefusedEvent(i: { time: Date; code: string; reason: string }): AuditEvent {
  return { event: 'policy-refused', time: i.time.toISOString(), actor: 'gateway', decision: i.code, reason: i.reason };
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

export interface SecurityAlert {
  type: { system: string; code: '110113'; display: 'Security Alert' };
  subtype: { system: string; code: string; display: string };
  /** FHIR AuditEvent.outcome: 0 success, 4 minor failure (a refusal). */
  outcome: '0' | '4';
}

const SUBTYPES: Record<string, { code: string; display: string; outcome: '0' | '4' }> = {
  'tls-refused': { code: '110126', display: 'Node Authentication', outcome: '4' },
  'access-denied': { code: '110132', display: 'Use of Restricted Function', outcome: '4' },
  'break-glass': { code: '110127', display: 'Emergency Override Started', outcome: '0' },
  'policy-refused': { code: '110129', display: 'Security Configuration', outcome: '4' },
};

/** The DICOM Security Alert coding of a security event; undefined for other events. */
export function securityAlertOf(event: string): SecurityAlert | undefined {
  const s = Object.hasOwn(SUBTYPES, event) ? SUBTYPES[event] : undefined;
  if (!s) return undefined;
  return { type: { system: DCM, code: '110113', display: 'Security Alert' }, subtype: { system: DCM, code: s.code, display: s.display }, outcome: s.outcome };
}
