import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog } from '../../src/audit/index.js';
import { scheduleTreeHeads } from '../../src/jobs/tree-heads.js';
import { makeEvent, makeSigner, tempDb } from './helpers.js';

t.test('a head is signed after every N entries, on the cron tick, and on stop, only when the log grew', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, { signer: await makeSigner() });
  const errors: unknown[] = [];
  const job = scheduleTreeHeads({ log, cron: '*/1 * * * * *', everyEntries: 5, checkMs: 20, onError: (e) => errors.push(e) });
  log.append(Array.from({ length: 6 }, () => makeEvent()));
  await sleep(150);
  t.equal(log.latestHead()?.treeSize, 6, 'signed once 5+ entries waited');
  const count = log.heads().length;
  await sleep(1200);
  t.equal(log.heads().length, count, 'the cron tick signs nothing when the log did not grow');
  log.append([makeEvent()]);
  await sleep(1100);
  t.equal(log.latestHead()?.treeSize, 7, 'the cron tick signed the new entry');
  log.append([makeEvent(), makeEvent()]);
  job.stop();
  t.equal(log.latestHead()?.treeSize, 9, 'stop signs a final head');
  job.stop();
  t.same(errors, []);
  db.close();
});

t.test('a bad schedule is refused with the config field named, and signing errors go to onError', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, {});
  t.throws(() => scheduleTreeHeads({ log, cron: 'every minute' }), /audit.treeHeadCron/);
  t.throws(() => scheduleTreeHeads({ log, everyEntries: -1 }), /treeHeadEveryEntries/);
  const errors: unknown[] = [];
  const job = scheduleTreeHeads({ log, everyEntries: 0, onError: (e) => errors.push(e) });
  log.append([makeEvent()]);
  job.stop();
  t.match(String(errors[0]), /no signer/);
  db.close();
});

t.test('entries left unsigned by a crash get a head as soon as the schedule starts', async (t) => {
  const { db } = tempDb();
  const log = AuditLog.open(db, { signer: await makeSigner() });
  log.append([makeEvent(), makeEvent()]);
  t.equal(log.latestHead(), null);
  const job = scheduleTreeHeads({ log, everyEntries: 0 });
  t.equal(log.latestHead()?.treeSize, 2);
  job.stop();
  t.equal(log.heads().length, 1, 'stop signs nothing more when nothing was added');
  db.close();
});
