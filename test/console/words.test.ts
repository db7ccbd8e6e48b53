/**
 * The console's pure parts: delivery errors and breaker states in plain words, the
 * per-destination summary and the actions that need a person, the filters of the
 * messages page, a consent's provisions in words, the policy diff and the tar writer.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actionsOf, plainAge, plainBreaker, plainError, summarize } from '../../src/console/index.js';
import { listFilterOf } from '../../src/console/messages.js';
import { patientIdOf } from '../../src/console/consents.js';
import { provisionWords } from '../../src/console/consent-words.js';
import { ruleDiff } from '../../src/console/policy-view.js';
import { tarOf } from '../../src/console/tar.js';
import { Sampler, sseFrame } from '../../src/console/live.js';
import { consentFor } from '../../bench/fixtures.js';

t.test('errors and states in plain words', async (t) => {
  t.equal(plainError('HTTP 400 (permanent)', 400), 'recipient answered 400 (bad request: the recipient rejected the message)');
  t.equal(plainError('HTTP 503'), 'recipient answered 503 (the recipient is unavailable)');
  t.equal(plainError('network error (ECONNREFUSED)'), 'the recipient refused the connection (is it running?)');
  t.equal(plainError('timeout after 5000 ms'), 'the recipient did not answer in time (after 5000 ms)');
  t.equal(plainError(undefined, 200), undefined, 'a success is no error');
  t.equal(plainError(undefined), undefined);
  t.equal(plainError('delivery failed (WEIRD)'), 'delivery failed (WEIRD)', 'an unknown kind is shown as recorded');
  t.equal(plainBreaker('open').label, 'link down: breaker open');
  t.equal(plainBreaker('half-open').tone, 'warn');
  t.equal(plainBreaker(undefined).tone, 'idle');
  t.equal(plainAge(65_000), '1 min 5 s');
  t.equal(plainAge(3 * 3_600_000 + 60_000), '3 h 1 min');
  t.equal(plainAge(5 * 86_400_000), '5 days');
});

t.test('summary and actions', async (t) => {
  const rows = summarize(
    ['a', 'b'],
    [
      { destination: 'a', state: 'queued', count: 2, bytes: 1 },
      { destination: 'a', state: 'dead', count: 3, bytes: 1 },
      { destination: 'gone', state: 'retrying', count: 1, bytes: 1 },
    ],
    [{ destination: 'a', breaker: 'open', inFlight: 0, buffered: 0 }],
    [{ destination: 'a', count: 4 }],
    [{ destination: 'a', count: 9 }],
  );
  t.same(rows.map((r) => r.name), ['a', 'b', 'gone'], 'a destination no longer configured still shows while it holds rows');
  t.match(rows[0], { queued: 2, dead: 3, deliveredHour: 4, deliveredDay: 9, breaker: 'open' });
  rows[0]!.firstDead = { at: new Date(2026, 0, 1, 10, 42).toISOString(), error: 'recipient answered 400' };
  rows[1]!.oldestMs = 20 * 60_000;
  const health = {
    heldBytes: 90,
    quotaBytes: 100,
    atQuota: false,
    certificates: [{ name: 'server', notAfter: '', daysLeft: 10, revoked: false }, { name: 'old', notAfter: '', daysLeft: -1, revoked: false }],
    policy: { id: 'p', version: '1', sha256: 'x', rules: 1 },
    audit: { size: 1, lastVerify: { at: '', ok: false, text: 'entry 3 was altered' } },
  };
  const acts = actionsOf({ at: '', destinations: rows, health }, new Date(2026, 0, 1, 12));
  const texts = acts.map((a) => a.text);
  t.ok(texts.includes('3 dead letters to a since 10:42: recipient answered 400'), 'dead letters: how many, where, since, why');
  t.ok(texts.some((x) => /^The link to a is down\. 2 messages wait/.test(x)), 'the link down');
  t.ok(texts.some((x) => /^Messages to b have waited 20 min/.test(x)), 'stuck messages while the link is up');
  t.ok(texts.some((x) => /holds 90 B of its 100 B quota/.test(x)), 'the quota');
  t.ok(texts.some((x) => /Certificate server expires in 10 days/.test(x)) && texts.some((x) => /Certificate old has expired/.test(x)), 'certificates');
  t.ok(texts.some((x) => /not signed/.test(x)), 'an unsigned policy');
  t.ok(texts.some((x) => /failed verification: entry 3 was altered/.test(x)), 'a failed verification');
  t.match(acts.map((a) => a.tone).join(','), /^(bad,)+warn(,warn)*$/, 'problems before warnings');
});

t.test('message filters, patient ids, consent words, policy diff, SSE frames, samples', async (t) => {
  t.match(listFilterOf({ state: 'dead', destination: 'x', since: '2026-01-01T10:00', id: ' abc ' }).filter, { state: 'dead', destination: 'x', messageId: 'abc', newestFirst: true });
  t.same(listFilterOf({ state: 'nope', until: 'soon' }).problems, ['"nope" is not a state', 'until: "soon" is not a date and time']);
  t.equal(patientIdOf('3520212345671'), 'cnic|35202-1234567-1');
  t.equal(patientIdOf(' 35202-1234567-1 '), 'cnic|35202-1234567-1');
  t.equal(patientIdOf('http://h/mrn|42'), 'http://h/mrn|42');
  t.same(provisionWords(consentFor('p') as never), ['Permits national-telemed (as information recipient) for treatment, emergency treatment from 2026-01-01 to 2030-12-31']);
  t.same(provisionWords({ provision: { type: 'permit', provision: [{ type: 'deny', class: [{ code: 'Observation' }], securityLabel: [{ code: 'R' }] }] } }), ['Permits any recipient for any purpose', '  except: denies any recipient for any purpose covering Observation, data labelled R']);
  t.match(provisionWords({})[0], /No provisions/);
  const rule = (id: string, description = 'd') => ({ id, description, effect: 'permit', reason: undefined, texts: [], phase: 'main', obligations: [], status: 'draft' });
  const before = { rules: [rule('a'), rule('b'), rule('c')] } as never;
  const after = { rules: [rule('a'), rule('b', 'changed'), rule('d')] } as never;
  t.same(ruleDiff(before, after), [{ id: 'b', change: 'changed' }, { id: 'd', change: 'added' }, { id: 'c', change: 'removed' }]);
  t.equal(sseFrame('overview', 'a\nb'), 'event: overview\ndata: a\ndata: b\n\n');
  const s = new Sampler();
  s.add(0, { a: 2 }, { a: 10 });
  s.add(60_000, { a: 1, b: 5 }, { a: 16, b: 0 });
  s.add(120_000, { a: 0, b: 0 }, { a: 12, b: 3 });
  t.same(s.series(), { t: [0, 60, 120], depth: { a: [2, 1, 0], b: [null, 5, 0] }, perMinute: { a: [0, 6, 0], b: [null, 0, 3] } }, 'rates per minute; a sliding window never goes negative');
});

t.test('the tar writer makes an archive tar reads', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'console-tar-'));
  const body = tarOf({ 'x/a.txt': new TextEncoder().encode('hello'), 'x/b.json': new Uint8Array(Buffer.from('{"k":1}\n'.repeat(100))) });
  t.equal(body.length % 512, 0);
  writeFileSync(join(dir, 'a.tar'), body);
  execFileSync('tar', ['xf', 'a.tar'], { cwd: dir });
  t.equal(readFileSync(join(dir, 'x/a.txt'), 'utf8'), 'hello');
  t.equal(readFileSync(join(dir, 'x/b.json'), 'utf8'), '{"k":1}\n'.repeat(100));
  t.throws(() => tarOf({ ['n'.repeat(101)]: new Uint8Array() }), /longer than 100 bytes/);
});
