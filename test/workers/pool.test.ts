/**
 * The worker pool: the checks give the same answers as on the main thread, the bytes
 * cross and come back, and a worker that crashes or hangs fails only its own tasks
 * (never an acceptance), is replaced, and is counted — with no body content in any error.
 */
import t from 'tap';
import { WorkerPool, WorkerFailedError } from '../../src/pipeline/index.js';
import { checkInbound } from '../../src/fhir/index.js';
import { OperationOutcomeError, DEFAULT_SHAPE_LIMITS } from '../../src/fhir/index.js';
import { observation } from '../../bench/fixtures.js';

const shape = DEFAULT_SHAPE_LIMITS;
const bytes = (v: unknown) => new Uint8Array(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
const SECRET = 'Zarghuna-Bibi-35202-7654321-9';

/** The refusal a check gives, or 'ok'. */
async function verdict(f: () => unknown): Promise<unknown> {
  try {
    await f();
    return 'ok';
  } catch (err) {
    return err instanceof OperationOutcomeError ? { status: err.status, outcome: err.result.outcome } : `other: ${(err as Error).name}`;
  }
}

t.test('the pool answers as the in-process checks do, for good and bad bodies', async (t) => {
  const pool = new WorkerPool({ size: 2 });
  t.teardown(() => pool.close());
  const good = observation('p-1');
  const r = await pool.checkInbound(bytes(good), 'Observation', shape);
  t.same(r, good, 'the resource comes back whole');
  const cases: [string, Uint8Array, string | undefined][] = [
    ['not JSON', bytes('{"resourceType": "Observation",'), 'Observation'],
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'Observation'],
    ['type mismatch', bytes(good), 'Patient'],
    ['unknown element (R4 structure)', bytes({ ...good, hospitalPatientName: SECRET }), 'Observation'],
    ['too deep', bytes('['.repeat(200) + ']'.repeat(200)), 'Observation'],
    ['not a resource', bytes([1, 2]), 'Observation'],
  ];
  for (const [what, body, type] of cases) {
    const inPool = await verdict(() => pool.checkInbound(body, type, shape));
    const here = await verdict(() => checkInbound(body, type, shape));
    t.not(inPool, 'ok', `${what}: refused`);
    t.same(inPool, here, `${what}: the same refusal as on the main thread`);
    t.notMatch(JSON.stringify(inPool), SECRET, `${what}: no value from the body in the refusal`);
  }
  // The caller's buffer is untouched (the pool transfers its own copy).
  const mine = bytes(good);
  await pool.checkInbound(mine, 'Observation', shape);
  t.equal(mine.byteLength, Buffer.byteLength(JSON.stringify(good)), 'the caller keeps its bytes');
});

t.test('a crashing worker fails its own tasks, is replaced and counted; the pool keeps working', async (t) => {
  const reasons: string[] = [];
  const pool = new WorkerPool({ size: 1, testHooks: true, onFailure: (r) => reasons.push(r) });
  t.teardown(() => pool.close());
  await pool.checkInbound(bytes(observation('p')), 'Observation', shape); // warm: the worker is up
  const before = pool.threadIds();
  const crash = pool.fault('crash');
  await t.rejects(crash, WorkerFailedError, 'the crashed task is failed, not answered');
  t.same(reasons, ['crash']);
  t.equal(pool.failures.crash, 1);
  t.not(pool.threadIds()[0], before[0], 'a new worker took its place');
  const again = await pool.checkInbound(bytes(observation('p')), 'Observation', shape);
  t.equal(again.resourceType, 'Observation', 'the replacement serves');
});

t.test('a hung worker is terminated at the deadline, its task failed, and replaced', async (t) => {
  const reasons: string[] = [];
  const pool = new WorkerPool({ size: 1, testHooks: true, taskTimeoutMs: 1500, onFailure: (r) => reasons.push(r) });
  t.teardown(() => pool.close());
  await pool.checkInbound(bytes(observation('p')), 'Observation', shape);
  const hang = pool.fault('hang');
  const err = await hang.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, WorkerFailedError);
  t.equal((err as WorkerFailedError).reason, 'hang');
  t.same(reasons, ['hang']);
  const again = await pool.checkInbound(bytes(observation('p')), 'Observation', shape);
  t.equal(again.resourceType, 'Observation', 'the replacement serves');
});

t.test('without test hooks a fault task is refused, and nothing is killed', async (t) => {
  const pool = new WorkerPool({ size: 1 });
  t.teardown(() => pool.close());
  const a = await pool.fault('crash');
  t.same(a, { id: a.id, ok: false, internal: true });
  t.equal(pool.failures.crash, 0);
});

t.test('size 0 runs the checks in-process with the same answers', async (t) => {
  const pool = new WorkerPool({ size: 0 });
  t.same(await pool.checkInbound(bytes(observation('p')), 'Observation', shape), observation('p'));
  t.same(await verdict(() => pool.checkInbound(bytes('{'), 'Observation', shape)), await verdict(() => checkInbound(bytes('{'), 'Observation', shape)));
  await pool.close();
});
