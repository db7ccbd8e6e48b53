import t, { type Test } from 'tap';
import { startSimulator, parseControl, type SimulatorOptions } from '../../src/sim/index.js';

async function sim(t: Test, opts: SimulatorOptions = {}) {
  const s = await startSimulator({ port: 0, ...opts });
  t.teardown(() => s.stop());
  return s;
}

function post(url: string, key: string | undefined, body = '{"envelope":1}', type = 'application/json') {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': type, ...(key ? { 'idempotency-key': key } : {}) },
    body,
  });
}

const received = async (url: string) => (await (await fetch(`${url}/_sim/received`)).json()) as { count: number; ids: string[] };
const stats = async (url: string) => (await (await fetch(`${url}/_sim/stats`)).json()) as Record<string, number>;
const control = (url: string, change: unknown) =>
  fetch(`${url}/_sim/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(change) });

t.test('the simulator records each Idempotency-Key once and answers 2xx to a duplicate too', async (t) => {
  const s = await sim(t);
  t.equal((await post(`${s.url}/fhir`, 'a')).status, 200);
  t.equal((await post(`${s.url}/fhir`, 'b')).status, 200);
  const dup = await post(`${s.url}/fhir`, 'a');
  t.equal(dup.status, 200);
  t.match(await dup.json(), { duplicate: true });
  t.same(await received(s.url), { count: 2, ids: ['a', 'b'] });
  t.match(await stats(s.url), { total: 3, duplicates: 1, distinct: 2, rejected: 0 });
});

t.test('a delivery without Idempotency-Key, or a JSON body that does not parse, is rejected with 400', async (t) => {
  const s = await sim(t);
  t.equal((await post(s.url, undefined)).status, 400);
  t.equal((await post(s.url, 'k', '{not json')).status, 400);
  t.equal((await post(s.url, 'k2', 'opaque bytes', 'application/octet-stream')).status, 200, 'non-JSON types are not parsed');
  t.same((await received(s.url)).ids, ['k2']);
  t.equal((await stats(s.url)).rejected, 2);
});

t.test('the openEnvelope hook decides what is accepted', async (t) => {
  const s = await sim(t, {
    openEnvelope: (body) => (body.includes('ok') ? { ok: true } : { ok: false, status: 422, reason: 'signature does not verify' }),
  });
  t.equal((await post(s.url, 'x', '{"ok":1}')).status, 200);
  const bad = await post(s.url, 'y', '{"no":1}');
  t.equal(bad.status, 422);
  t.match(await bad.json(), { error: 'signature does not verify' });
  t.same((await received(s.url)).ids, ['x']);
});

t.test('control: a forced status, Retry-After, fail rate and delay', async (t) => {
  const s = await sim(t);
  t.equal((await control(s.url, { status: 400 })).status, 200);
  t.equal((await post(s.url, 'a')).status, 400);
  await control(s.url, { status: 503, retryAfterS: 7 });
  const r = await post(s.url, 'a');
  t.equal(r.status, 503);
  t.equal(r.headers.get('retry-after'), '7');
  await control(s.url, { status: null, failRate: 1, failStatus: 429 });
  t.equal((await post(s.url, 'a')).status, 429);
  await control(s.url, { failRate: 0, delayMs: 80 });
  const started = Date.now();
  t.equal((await post(s.url, 'a')).status, 200);
  t.ok(Date.now() - started >= 70, 'answered after the delay');
  t.same((await received(s.url)).ids, ['a'], 'failed posts are not recorded');
  t.equal((await control(s.url, { failRate: 2 })).status, 400, 'a bad control value is refused');
});

t.test('down refuses deliveries by closing the socket, and downForMs comes back by itself', async (t) => {
  const s = await sim(t);
  await control(s.url, { downForMs: 150 });
  await t.rejects(post(s.url, 'a'), 'the connection is closed without an answer');
  t.same((await received(s.url)).count, 0, 'control stays reachable while down');
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await post(s.url, 'a')).status, 200);
  s.control({ down: true });
  await t.rejects(post(s.url, 'b'));
  s.control({ down: false });
  t.equal((await post(s.url, 'b')).status, 200);
});

t.test('dropRate closes before recording; dropAfterAcceptRate records and loses the answer', async (t) => {
  const s = await sim(t, { dropRate: 1 });
  await t.rejects(post(s.url, 'a'));
  t.equal((await received(s.url)).count, 0);
  s.control({ dropRate: 0, dropAfterAcceptRate: 1 });
  await t.rejects(post(s.url, 'b'));
  t.same((await received(s.url)).ids, ['b'], 'recorded although the sender saw no answer');
  s.control({ dropAfterAcceptRate: 0 });
  t.equal((await post(s.url, 'b')).status, 200, 'the resend is a duplicate');
  t.equal((await received(s.url)).count, 1);
});

t.test('with a data dir a restarted simulator remembers the keys it accepted', async (t) => {
  const dataDir = t.testdir();
  const first = await startSimulator({ port: 0, dataDir });
  await post(first.url, 'p');
  await post(first.url, 'q');
  await first.stop();
  const second = await sim(t, { dataDir });
  t.same(await received(second.url), { count: 2, ids: ['p', 'q'] });
  await post(second.url, 'p');
  t.equal((await received(second.url)).count, 2);
  await fetch(`${second.url}/_sim/reset`, { method: 'POST' });
  t.equal((await received(second.url)).count, 0);
});

t.test('parseControl names the bad field', async (t) => {
  t.throws(() => parseControl({ dropRate: 'x' }), /dropRate must be a number from 0 to 1/);
  t.throws(() => parseControl({ status: 99 }), /status must be an HTTP status/);
  t.throws(() => parseControl({ surprise: 1 }), /unknown control field: surprise/);
  t.same(parseControl({ status: null, down: false }), { status: null, down: false });
});
