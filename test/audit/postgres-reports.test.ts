// The reports over the shared PostgreSQL log give what the SQLite reports give over the same events:
// a patient's disclosures (decisions filled into deliveries), the breach report, the break-glass review.
import t from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import {
  AuditLog,
  PostgresAuditLog,
  auditEvents,
  breachReport,
  breakGlassReport,
  disclosures,
  postgresBreachReport,
  postgresBreakGlassReport,
  postgresDisclosures,
  postgresSourcesSeen,
  sourcesSeen,
  breakGlassEvent,
} from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { startPostgres } from '../helpers/postgres.js';

const server = await startPostgres(t);
const P1 = 'tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const P2 = 'tokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const SHA = 'a'.repeat(64);

/** Two patients, two destinations, deliveries on two days, one break-glass use. */
function events(): AuditEvent[] {
  const out: AuditEvent[] = [];
  const msg = (id: string, patient: string, destination: string, day: string, delivered: boolean, purpose = 'TREAT') => {
    out.push(auditEvents.received({ time: `${day}T08:00:00Z`, messageId: id, source: 'ehr-a', purpose }));
    out.push(auditEvents.decided({ time: `${day}T08:00:00Z`, messageId: id, destination, decision: 'permit', policySha256: SHA, purpose, patientToken: patient, dataClasses: ['vital-signs', 'Observation'], consentId: 'c-1', consentVersion: '2', ruleIds: ['treatment-in-pakistan'] }));
    if (delivered) out.push(auditEvents.delivered({ time: `${day}T09:00:00Z`, messageId: id, destination, decision: 'delivered', patientToken: patient }));
  };
  msg('m-1', P1, 'national-telemed', '2026-11-01', true);
  msg('m-2', P1, 'research-hub', '2026-11-02', true, 'HRESCH');
  msg('m-3', P2, 'national-telemed', '2026-11-02', false);
  msg('m-4', P2, 'national-telemed', '2026-11-03', true, 'ETREAT');
  out.push(breakGlassEvent({ time: new Date('2026-11-03T08:00:01Z'), actor: 'dr-khan', reasonText: 'unconscious patient in emergency', messageId: 'm-4', protocol: 'https' }));
  return out;
}

t.test('disclosures, breach and break-glass reports: the same on both logs', async (t) => {
  const db = openDatabase(join(t.testdir(), 'a.db'));
  t.teardown(() => db.close());
  const sqlite = AuditLog.open(db);
  const shared = await PostgresAuditLog.open({ url: await server.newDatabase(), nodeId: 'gw-a' });
  t.teardown(() => shared.close());
  for (const e of events()) {
    sqlite.append([e]);
    await shared.append([e]);
  }
  const p1 = await postgresDisclosures(shared, [P1]);
  t.same(p1, disclosures(db, [P1]), 'a patient\'s disclosures');
  t.equal(p1.filter((r) => r.disclosed).length, 2, 'two deliveries of the first patient');
  t.match(p1.find((r) => r.event === 'delivered' && r.destination === 'research-hub'), { purpose: 'HRESCH', consentId: 'c-1', dataClasses: ['vital-signs', 'Observation'] }, 'a delivery carries its decision\'s facts');

  const window = { since: '2026-11-02T00:00:00Z', until: '2026-11-04T00:00:00Z' };
  const breach = await postgresBreachReport(shared, window);
  t.same(breach, breachReport(db, window), 'the breach report');
  t.same(breach.patients, [P1, P2].sort(), 'both patients in the window');
  t.same(await postgresBreachReport(shared, { ...window, destination: 'research-hub', events: ['delivered', 'decided'] }), breachReport(db, { ...window, destination: 'research-hub', events: ['delivered', 'decided'] }), 'by destination and events');

  const review = await postgresBreakGlassReport(shared, { since: '2026-11-01T00:00:00Z' });
  t.same(review, breakGlassReport(db, { since: '2026-11-01T00:00:00Z' }), 'the break-glass review');
  t.match(review, { uses: 1, actors: [{ actor: 'dr-khan', uses: 1 }], entries: [{ messageId: 'm-4', destinations: [{ name: 'national-telemed', decision: 'permit' }] }] });
  t.same(await postgresSourcesSeen(shared), sourcesSeen(db), 'the sources seen');
});
