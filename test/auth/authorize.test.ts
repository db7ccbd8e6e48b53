import t from 'tap';
import { ACTIONS, ACTION_RULES, ROLES, authorize, type Action, type Identity, type Role } from '../../src/auth/index.js';

const who = (roles: Role[], grants: Identity['grants'] = [], name = 'ehr'): Identity => ({ kind: 'certificate', name, roles, grants });

t.test('table cases', async (t) => {
  const cases: [string, Identity | undefined, Action, boolean, RegExp?][] = [
    ['sender submits FHIR', who(['sender']), 'fhir.submit', true],
    ['sender submits HL7 v2', who(['sender']), 'hl7v2.submit', true],
    ['operator cannot submit', who(['operator']), 'fhir.submit', false, /needs one of: sender/],
    ['admin is not a sender', who(['admin']), 'fhir.submit', false, /holds admin/],
    ['admin + sender submits', who(['admin', 'sender']), 'fhir.submit', true],
    ['no identity submits nothing', undefined, 'fhir.submit', false, /authenticated identity/],
    ['sender without integration-engine cannot claim a source', who(['sender']), 'source.claim', false, /integration-engine/],
    ['integration engine claims a source', who(['sender'], ['integration-engine']), 'source.claim', true],
    ['a grant without the sender role is nothing', who(['operator'], ['integration-engine']), 'source.claim', false],
    ['sender without break-glass cannot use ETREAT', who(['sender']), 'purpose.etreat', false, /break-glass/],
    ['operator runs retries', who(['operator']), 'queue.retry', true],
    ['auditor cannot purge', who(['auditor']), 'queue.purge', false],
    ['auditor exports the audit', who(['auditor']), 'audit.export', true],
    ['operator cannot export the audit', who(['operator']), 'audit.export', false],
    ['admin manages tokens', who(['admin']), 'tokens.manage', true],
    ['operator cannot manage tokens', who(['operator']), 'tokens.manage', false],
    ['admin cannot read consents', who(['admin']), 'consent.read', false],
    ['consent-writer reads back', who(['consent-writer']), 'consent.read', true],
    ['consent-reader cannot write', who(['consent-reader']), 'consent.write', false],
    ['a certificate with no roles is refused by name', who([], [], 'stray'), 'status.read', false, /"stray" holds no role/],
  ];
  for (const [label, identity, action, allowed, reason] of cases) {
    const d = authorize(identity, action);
    t.equal(d.allowed, allowed, label);
    t.equal(d.action, action);
    t.ok(d.reason.length > 0, `${label}: has a reason`);
    if (reason) t.match(d.reason, reason, `${label}: reason`);
    if (allowed) t.ok(d.via && identity!.roles.includes(d.via), `${label}: names the role`);
  }
});

t.test('break-glass needs the grant and a reason', async (t) => {
  const bg = who(['sender'], ['break-glass']);
  t.notOk(authorize(bg, 'purpose.etreat').allowed);
  t.match(authorize(bg, 'purpose.etreat', { breakGlassReason: '   ' }).reason, /X-Break-Glass-Reason/);
  t.ok(authorize(bg, 'purpose.etreat', { breakGlassReason: 'unconscious patient in ER' }).allowed);
});

t.test('message.read.own is only for the message\'s own sender', async (t) => {
  const s = who(['sender'], [], 'lab');
  t.ok(authorize(s, 'message.read.own', { owner: 'lab' }).allowed);
  t.match(authorize(s, 'message.read.own', { owner: 'ehr' }).reason, /did not send/);
  t.notOk(authorize(s, 'message.read.own').allowed, 'unknown owner means deny');
  t.notOk(authorize(s, 'message.read.any').allowed);
});

t.test('the metrics token reads /metrics and nothing else', async (t) => {
  const m: Identity = { kind: 'metrics-token', name: 'metrics', roles: [], grants: [] };
  t.ok(authorize(m, 'metrics.read').allowed);
  for (const a of ACTIONS.filter((a) => a !== 'metrics.read')) t.notOk(authorize(m, a).allowed, a);
  // Even if roles were attached to it by mistake.
  t.notOk(authorize({ ...m, roles: ['admin'] }, 'tokens.manage').allowed);
});

t.test('admin holds every action that touches no patient data, and none that does', async (t) => {
  for (const a of ACTIONS) {
    const rule = ACTION_RULES[a];
    const allowed = authorize(who(['admin']), a, { owner: 'ehr', breakGlassReason: 'r' }).allowed;
    if (rule.patientData) t.notOk(allowed, `${a} touches patient data`);
    // message.read.own is the sender's view; admin reads any message instead.
    else if (a !== 'message.read.own') t.ok(allowed, a);
  }
});

t.test('unknown actions and no roles are refused', async (t) => {
  t.notOk(authorize(who([...ROLES]), 'everything' as Action).allowed);
  for (const a of ACTIONS) t.notOk(authorize(who([]), a, { owner: 'ehr', breakGlassReason: 'r' }).allowed, a);
});
