// The gateway's own audit events on a pair: held while the shared database cannot be reached,
// appended in order when it answers again; a bad event still throws at once, as on SQLite.
import t from 'tap';
import { backgroundAppender } from '../../src/gateway/shared.js';
import { auditEvents } from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { memoryLogger } from '../helpers/gateway.js';
import { waitFor } from '../helpers/net.js';

const event = (n: number) => auditEvents.adminAction({ time: new Date(Date.UTC(2026, 11, 5, 0, 0, n)), reason: `operator step ${'x'.repeat(n % 3)}` });

t.test('held through an outage, appended in order afterwards', async (t) => {
  let down = true;
  const appended: AuditEvent[][] = [];
  const log = {
    check: (events: AuditEvent[]) => {
      if (events.some((e) => !e.time)) throw new Error('bad event');
    },
    append: async (events: AuditEvent[]) => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      appended.push(events);
      return appended.length;
    },
  };
  const { logger, lines } = memoryLogger();
  const audit = backgroundAppender(log, logger);
  for (let i = 0; i < 5; i++) audit.append([event(i)]);
  await waitFor(() => lines.some((l) => /holding the events/.test(l)) || undefined, { what: 'the outage noticed' });
  t.equal(appended.length, 0, 'nothing appended while down');
  t.equal(audit.held(), 5, 'all five held');
  down = false;
  audit.append([event(5)]);
  await waitFor(() => appended.length === 6 || undefined, { timeoutMs: 10_000, what: 'the held events appended' });
  t.same(appended.map((b) => b[0]!.time), [0, 1, 2, 3, 4, 5].map((n) => event(n).time), 'in the order they happened');
  t.equal(audit.held(), 0);
  t.throws(() => audit.append([{ event: 'admin-action' } as unknown as AuditEvent]), /bad event/, 'a bad event throws at once');
  await audit.drain();
});
