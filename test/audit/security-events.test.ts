/**
 * Security events in the audit log: refused TLS handshakes (rate-limited and aggregated),
 * break-glass uses (reason scrubbed), refused policies, their ATNA coding as DICOM Security
 * Alerts, and the break-glass review report.
 */
import t from 'tap';
import {
  AuditLog,
  ATNA_ALERT_PRI,
  ATNA_PRI,
  breakGlassEvent,
  breakGlassReport,
  breakGlassSummary,
  accessDeniedEvent,
  createRefusalAudit,
  frameSyslog,
  policyRefusedEvent,
  scrubBreakGlassReason,
  type AuditEntry,
} from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { tempDb } from './helpers.js';

t.test('finding: refused TLS handshakes are audit entries, at most one per peer per window with a count, many peers aggregated', async (t) => {
  const written: AuditEvent[] = [];
  const r = createRefusalAudit({ append: (e) => written.push(...e), windowMs: 3_600_000, maxPeersPerWindow: 3 });
  t.teardown(() => r.stop());
  for (let i = 0; i < 100; i++) r.refused('10.0.0.9', 'https', 'peer did not return a certificate');
  t.equal(written.length, 1, '100 refusals from one peer: one entry at once');
  t.match(written[0], { event: 'tls-refused', peer: '10.0.0.9', count: 1, protocol: 'https' });
  for (let i = 1; i <= 10; i++) r.refused(`10.0.1.${i}`, 'mllp', 'certificate revoked');
  t.equal(written.length, 3, 'two more peers within the budget get entries of their own');
  r.flush();
  const summary = written.slice(3);
  t.match(summary.find((e) => e.peer === '10.0.0.9'), { count: 99 }, 'the window end records the rest with their count');
  t.match(summary.find((e) => !e.peer), { count: 8, reason: /8 more peers/ }, 'a burst from many peers becomes one aggregate entry');
  const before = written.length;
  r.flush();
  t.equal(written.length, before, 'nothing pending, nothing written');

  // The entries pass the audit log's allow-list.
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  log.append(written);
  t.equal(log.size(), written.length);
});

t.test('break-glass reasons are scrubbed of digits and capped; security events pass the allow-list', async (t) => {
  t.equal(scrubBreakGlassReason('bed 12, MRN 4455, call 0300-1234567'), 'bed (n), MRN (n), call (n)-(n)');
  t.ok(scrubBreakGlassReason('x '.repeat(500)).length <= 120);
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  const time = new Date('2026-03-01T08:00:00Z');
  log.append([
    breakGlassEvent({ time, actor: 'er-ehr', reasonText: 'unconscious, bed 7', messageId: 'm-1', protocol: 'mllp', plain: true }),
    accessDeniedEvent({ time, actor: 'visitor laptop', action: 'hl7v2.submit', protocol: 'mllp', reason: 'no role', peer: '10.0.0.4' }),
    policyRefusedEvent({ time, code: 'bad-signature', reason: 'the policy signature does not verify' }),
  ]);
  const entries = db.prepare('SELECT entry FROM audit_entries ORDER BY idx').pluck().all().map((x) => JSON.parse(x as string) as AuditEntry);
  t.match(entries[0], { event: 'break-glass', actor: 'er-ehr', reason: 'unconscious, bed (n)', purpose: 'ETREAT', protocol: 'mllp', plain: true, messageId: 'm-1' });
  t.match(entries[1], { event: 'access-denied', action: 'hl7v2.submit', peer: '10.0.0.4' });
  t.match(entries[2], { event: 'policy-refused', decision: 'bad-signature' });
});

t.test('finding: security events go to ATNA as DICOM Security Alerts (110113) with their subtype', async (t) => {
  const time = '2026-03-01T08:00:00.000Z';
  const alert = (e: AuditEntry) => {
    const text = JSON.stringify(e);
    const msg = frameSyslog(1, text, e, 'host', 'darwaza', '1').toString('utf8');
    return { pri: Number(/<(\d+)>1 /.exec(msg)![1]), ev: JSON.parse(msg.slice(msg.indexOf('{'))) };
  };
  const cases: [string, string][] = [
    ['tls-refused', '110126'],
    ['access-denied', '110132'],
    ['break-glass', '110127'],
    ['policy-refused', '110129'],
  ];
  for (const [event, sub] of cases) {
    const { pri, ev } = alert({ v: 1, event, time, actor: 'x' } as AuditEntry);
    t.equal(pri, ATNA_ALERT_PRI, `${event}: severity warning`);
    t.match(ev.type, { code: '110113', display: 'Security Alert' }, `${event}: Security Alert`);
    t.equal(ev.subtype[0].code, sub, `${event}: subtype ${sub}`);
  }
  const plain = alert({ v: 1, event: 'received', time } as AuditEntry);
  t.equal(plain.pri, ATNA_PRI, 'other events keep their severity');
  t.not(plain.ev.type.code, '110113');
});

t.test('the break-glass report lists who, when, how many, reasons and destinations', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  const at = (s: string) => new Date(`2026-03-0${s}T08:00:00Z`);
  log.append([
    breakGlassEvent({ time: at('1'), actor: 'er-ehr', reasonText: 'cardiac arrest bed 4', messageId: 'm-1', protocol: 'mllp' }),
    { event: 'decided', time: at('1').toISOString(), messageId: 'm-1', destination: 'national-telemed', decision: 'permit', policySha256: 'a'.repeat(64) },
    breakGlassEvent({ time: at('2'), actor: 'er-ehr', reasonText: 'trauma', messageId: 'm-2', protocol: 'https' }),
    breakGlassEvent({ time: at('3'), actor: 'icu', reasonText: 'sepsis', messageId: 'm-3', protocol: 'mllp' }),
  ]);
  const all = breakGlassReport(db);
  t.equal(all.uses, 3);
  t.same(all.actors.map((a) => [a.actor, a.uses]), [['er-ehr', 2], ['icu', 1]]);
  t.same(all.entries[0].destinations, [{ name: 'national-telemed', decision: 'permit' }]);
  t.equal(all.entries[0].reason, 'cardiac arrest bed (n)');
  const window = breakGlassReport(db, { since: at('2').toISOString(), until: at('3').toISOString() });
  t.same(window.entries.map((e) => e.messageId), ['m-2'], 'the window is [since, until)');
  t.match(breakGlassSummary(all), /er-ehr: 2 uses[\s\S]*m-1 → national-telemed \(permit\)[\s\S]*reason: cardiac arrest bed \(n\)/);
});
