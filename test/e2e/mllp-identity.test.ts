/**
 * MLLP identities through the real gateway process: the loopback identity is the source
 * and MSH-3/4 only the claimed source; a peer without the sender role gets AR and an
 * access-denied entry; break-glass over v2 (ZBG segment) needs the grant and a reason, is
 * audited, and shows up in `darwaza audit break-glass`.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO, prepareDir, runCli, startGatewayProcess } from '../helpers/processes.js';
import { sendOnce } from '../fixtures/hl7v2/mllp-client.js';

const fixture = (name: string) => readFileSync(join(REPO, 'test/fixtures/hl7v2', name), 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '');
const field = (ack: string, segment: string, n: number) => ack.split('\r').find((s) => s.startsWith(segment + '|'))?.split('|')[n];
const withControlId = (msg: string, id: string) => msg.replace(/^(MSH(?:\|[^|]*){8}\|)[^|]*/, `$1${id}`);

function entries(dir: string): Array<Record<string, unknown>> {
  const db = new Database(join(dir, 'data', 'darwaza.db'), { readonly: true });
  try {
    return (db.prepare('SELECT entry FROM audit_entries ORDER BY idx').pluck().all() as string[]).map((e) => JSON.parse(e));
  } finally {
    db.close();
  }
}

t.test('finding: MLLP source spoofing and break glass, through the real gateway', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.access = { loopback: { roles: ['sender'], grants: ['break-glass'] } };
  });
  const gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());

  const oru = fixture('oru-r01-lab-a.hl7');
  const [ack] = await sendOnce(ports.mllp, withControlId(oru, 'ID-1'));
  t.equal(field(ack, 'MSA', 1), 'AA');
  // The decision's entry carries what a separate received entry used to (one leaf per destination decision).
  const received = entries(dir).filter((e) => e.event === 'decided');
  t.equal(received.length, 1);
  t.equal(received[0].source, 'loopback', 'the source is the identity, not MSH-3|MSH-4');
  t.match(received[0].claimedSource, /\|/, 'MSH-3|MSH-4 is the claimed source');
  t.equal(received[0].plain, true, 'the plain loopback connection is marked');

  const reason = 'unconscious patient, bed 12';
  const [bg] = await sendOnce(ports.mllp, `${withControlId(oru, 'ID-2')}\rZBG|ETREAT|${reason}`);
  t.equal(field(bg, 'MSA', 1), 'AA', 'break-glass with the grant and a reason is accepted');
  const messageId = /accepted as (\S+)/.exec(field(bg, 'MSA', 3) ?? '')?.[1];
  const uses = entries(dir).filter((e) => e.event === 'break-glass');
  t.equal(uses.length, 1);
  t.match(uses[0], { actor: 'loopback', protocol: 'mllp', purpose: 'ETREAT', reason: 'unconscious patient, bed (n)', messageId });
  const received2 = entries(dir).filter((e) => e.event === 'decided' && e.messageId === messageId);
  t.equal(received2[0]?.purpose, 'ETREAT', 'the message travels with purpose ETREAT');

  const [noReason] = await sendOnce(ports.mllp, `${withControlId(oru, 'ID-3')}\rZBG|ETREAT`);
  t.equal(field(noReason, 'MSA', 1), 'AR', 'break-glass without a reason: AR');
  t.ok(entries(dir).some((e) => e.event === 'access-denied' && e.action === 'purpose.etreat'), 'and an access-denied entry');

  const report = runCli(['audit', 'break-glass', '--json', '--data-dir', join(dir, 'data')], { cwd: dir });
  t.equal(report.code, 0, report.stderr);
  const r = JSON.parse(report.stdout);
  t.equal(r.uses, 1);
  t.match(r.entries[0], { actor: 'loopback', messageId, reason: 'unconscious patient, bed (n)' });
  const text = runCli(['audit', 'break-glass', '--data-dir', join(dir, 'data')], { cwd: dir });
  t.match(text.stdout, /loopback: 1 use/);
  t.notMatch(text.stdout + report.stdout, /bed 12/, 'no digits of the reason in the report');
});

t.test('finding: a peer without the sender role gets AR and an access-denied entry', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.access = { loopback: { roles: ['consent-writer'] } };
  });
  const gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());
  const [ack] = await sendOnce(ports.mllp, fixture('oru-r01-lab-a.hl7'));
  t.equal(field(ack, 'MSA', 1), 'AR');
  const all = entries(dir);
  t.notOk(all.some((e) => e.event === 'decided' || e.event === 'received'), 'nothing was received');
  t.match(all.find((e) => e.event === 'access-denied'), { actor: 'loopback', action: 'hl7v2.submit', protocol: 'mllp', plain: true });
});
