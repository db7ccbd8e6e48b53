// The shared audit suite (log-suite.ts) against the SQLite AuditLog, through a thin async adapter.
import t from 'tap';
import { AuditLog, exportLog, verifyLog } from '../../src/audit/index.js';
import { tempDb } from './helpers.js';
import { auditSuite, type AsyncAuditLog } from './log-suite.js';

auditSuite(t, async (t, { signer, clock }) => {
  const { db } = tempDb();
  t.teardown(() => db.close());
  const log = AuditLog.open(db, { signer, clock });
  const a: AsyncAuditLog = {
    append: async (e) => log.append(e),
    size: async () => log.size(),
    root: async (n) => log.root(n),
    signTreeHead: async () => log.signTreeHead(),
    latestHead: async () => log.latestHead(),
    heads: async () => log.heads(),
    inclusionProof: async (i, n) => log.inclusionProof(i, n),
    consistencyProof: async (m, n) => log.consistencyProof(m, n),
    entry: async (i) => log.entry(i),
    findByMessageId: async (id) => log.findByMessageId(id),
  };
  const unlock = () => {
    for (const tbl of ['audit_entries', 'audit_nodes']) db.exec(`DROP TRIGGER IF EXISTS ${tbl}_no_update; DROP TRIGGER IF EXISTS ${tbl}_no_delete;`);
  };
  return {
    log: a,
    verify: (key) => verifyLog(db, key),
    exportTo: async (opts) => exportLog(log, opts),
    tamperEntry: async (i, edit) => {
      unlock();
      const text = db.prepare('SELECT entry FROM audit_entries WHERE idx = ?').pluck().get(i) as string;
      db.prepare('UPDATE audit_entries SET entry = ? WHERE idx = ?').run(edit(text), i);
    },
    truncate: async (keep) => {
      unlock();
      db.prepare('DELETE FROM audit_entries WHERE idx >= ?').run(keep);
      db.prepare('DELETE FROM audit_nodes WHERE level = 0 AND idx >= ?').run(keep);
    },
  };
});
