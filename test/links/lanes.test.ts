import t from 'tap';
import { laneOfItem, laneOfPurpose, orderByLane, windowVerdict } from '../../src/queue/lanes.js';
import { bucketFor, fullBucket, take } from '../../src/queue/token-bucket.js';
import { checkExactlyOnce, startRig, until } from '../helpers/link-rig.js';

const KHI = 'Asia/Karachi';
const at = (iso: string) => Date.parse(iso);

t.test('lanes by purpose of use: emergency > treatment > public health > research/bulk', async (t) => {
  t.equal(laneOfPurpose('ETREAT'), 'emergency');
  t.equal(laneOfPurpose('TREAT'), 'treatment');
  t.equal(laneOfPurpose('PUBHLTH'), 'public-health');
  t.equal(laneOfPurpose('HRESCH'), 'research');
  t.equal(laneOfPurpose('HPAYMT'), 'research', 'anything unlisted is bulk');
  t.equal(laneOfItem({ lane: 'normal', context: '{"purpose":"ETREAT"}' }), 'treatment', 'the context never promotes a row to emergency');
  t.equal(laneOfItem({ lane: 'emergency', context: '{}' }), 'emergency');
  t.equal(laneOfItem({ lane: 'normal', context: 'not json' }), 'research');
  const items = ['HRESCH', 'TREAT', 'PUBHLTH', 'HRESCH', 'TREAT'].map((p, i) => ({ p, i }));
  t.same(
    orderByLane(items, (x) => laneOfPurpose(x.p)).map((x) => x.i),
    [1, 4, 2, 0, 3],
    'stable: enqueue order within a lane',
  );
});

t.test('a daily window in Asia/Karachi, across midnight', async (t) => {
  const w = { from: '22:00', to: '06:00' };
  t.equal(windowVerdict(w, at('2026-12-04T17:00:00Z'), KHI).open, true, '22:00 PKT is inside');
  t.equal(windowVerdict(w, at('2026-12-04T20:30:00Z'), KHI).open, true, '01:30 PKT is inside');
  const closed = windowVerdict(w, at('2026-12-04T01:00:00Z'), KHI);
  t.equal(closed.open, false, '06:00 PKT is outside (to is exclusive)');
  t.equal(!closed.open && new Date(closed.opensAt).toISOString(), '2026-12-04T17:00:00.000Z', 'opens at 22:00 PKT');
  const noon = windowVerdict(w, at('2026-12-04T07:00:30Z'), KHI);
  t.equal(!noon.open && new Date(noon.opensAt).toISOString(), '2026-12-04T17:00:00.000Z');
  t.match(noon, { reason: /outside 22:00–06:00 Asia\/Karachi/ });
  t.equal(windowVerdict({ from: '09:00', to: '17:00' }, at('2026-12-04T05:00:00Z'), KHI).open, true, '10:00 PKT inside a day window');
  t.equal(windowVerdict({ from: '00:00', to: '00:00' }, 0, KHI).open, true, 'from = to: all day');
  t.throws(() => windowVerdict({ from: '25:00', to: '01:00' }, 0, KHI), /HH:MM/);
});

t.test('the token bucket: bursts up to its size, then the byte rate', async (t) => {
  const b = bucketFor(1000);
  let s = fullBucket(b, 0);
  let r = take(b, s, 800, 0);
  t.ok(r.ok);
  s = r.state;
  r = take(b, s, 800, 0);
  t.same(r.ok, false);
  t.equal(!r.ok && r.waitMs, 600, 'waits for the missing 600 bytes at 1000 B/s');
  r = take(b, s, 800, 600);
  t.ok(r.ok, 'and then goes');
  const big = take(b, fullBucket(b, 0), 5000, 0);
  t.ok(big.ok, 'a unit bigger than the bucket goes when it is full…');
  const after = take(b, big.ok ? big.state : s, 100, 0);
  t.equal(!after.ok && after.waitMs, 4100, '…and leaves it in debt');
});

t.test('when the link returns the emergency lane drains first, then treatment, then bulk', async (t) => {
  // Backoff shorter than the breaker's cool-down: every row is due again when the probe goes.
  const rig = await startRig(t, {
    dest: { concurrency: 1, batch: { maxItems: 4, maxBytes: 64 * 1024 }, retry: { maxAttempts: 1000, baseDelayMs: 10, maxDelayMs: 40, maxAgeMs: 3_600_000 } },
    proxy: false,
  });
  rig.sim.control({ down: true });
  for (let i = 0; i < 3; i++) await rig.enqueue(`r-${i}`, { purpose: 'HRESCH' });
  for (let i = 0; i < 3; i++) await rig.enqueue(`t-${i}`, { purpose: 'TREAT' });
  for (let i = 0; i < 3; i++) await rig.enqueue(`e-${i}`, { purpose: 'ETREAT' });
  rig.dispatcher.start();
  await until(t, 'the breaker opened', () => rig.dispatcher.breakerState(rig.d.name) === 'open');
  rig.sim.control({ down: false });
  await until(t, 'all delivered', rig.allDelivered);
  checkExactlyOnce(t, rig);
  const order = rig.sim.state.ids.map((id) => id[0]).join('');
  t.equal(order, 'eeetttrrr', `arrival order by lane (${order})`);
});

t.test('a lane outside its window waits without counting attempts; the others go', async (t) => {
  const now = Date.now();
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  // A research window that opened more than an hour from now (UTC), so it is closed for this test.
  const rig = await startRig(t, {
    dest: { laneWindows: { research: { from: hhmm(now + 2 * 3600_000), to: hhmm(now + 3 * 3600_000) } } },
    dispatcher: { timeZone: 'UTC' },
    proxy: false,
  });
  await rig.enqueue('r-1', { purpose: 'HRESCH' });
  await rig.enqueue('t-1', { purpose: 'TREAT' });
  rig.dispatcher.start();
  await until(t, 'treatment delivered', () => rig.sim.state.ids.includes('t-1'));
  const rows = await rig.store.list({});
  const r = rows.find((x) => x.messageId === 'r-1')!;
  t.equal(r.state, 'queued', 'the research row is still queued');
  t.equal(r.attempts, 0, 'no attempt counted');
  // Several idle polls later it has still not been claimed (it is not due before its window).
  await new Promise((res) => setTimeout(res, 500));
  t.same(rig.sim.state.ids, ['t-1']);
  t.equal((await rig.store.list({})).find((x) => x.messageId === 'r-1')!.attempts, 0);
});
