/**
 * A pool of worker threads (one per core by default) for the pure CPU stages of ingest.
 * Bytes go in and come back transferred; decisions and SQLite stay on the main thread
 * (one writer owns the database).
 *
 * Failure contract: a worker that exits, throws outside a task, or does not answer a task
 * within `taskTimeoutMs` is terminated and replaced, and every task it held is rejected
 * with WorkerFailedError (a 500 / AE for the sender, never an acceptance). Each failure
 * is counted by reason through `onFailure`. Error texts name the pool, never the data.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { OperationOutcomeError, type ShapeLimits } from '../../fhir/index.js';
import type { FhirResource } from '../../model/index.js';
import { POOL_WORKER_FLAG, type Answer, type Task } from './protocol.js';
import { checkInbound } from '../../fhir/index.js';
// Side effect: puts the worker loop in the bundle, where workers load it from.
import './worker-main.js';

export class WorkerFailedError extends Error {
  override name = 'WorkerFailedError';
  constructor(readonly reason: 'crash' | 'hang' | 'internal' | 'closed') {
    super(`a pool worker failed (${reason}) while checking the message; it was not accepted`);
  }
}

export interface PoolOptions {
  /** Workers to run (default: the machine's cores). 0: run the checks in-process. */
  size?: number;
  /** A task not answered in this time counts as a hang (default 30 s). */
  taskTimeoutMs?: number;
  /** Counts failures by reason (crash, hang). */
  onFailure?: (reason: 'crash' | 'hang') => void;
  /** Allows the test-only fault tasks. */
  testHooks?: boolean;
  /**
   * Start the workers this long after the pool is made (default 0). Each loads the code and
   * the R4 definitions (a second or more of CPU): deferred, they do not slow a (re)start,
   * and until one is ready the checks run on the calling thread.
   */
  startDelayMs?: number;
  /** Called with the number of started workers whenever it changes. */
  onReady?: (ready: number) => void;
}

interface Pending {
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  dead: boolean;
  /** Started (definitions loaded): deadlines run from here, a slow start is not a hang. */
  ready: boolean;
}

/** How to start a worker running worker-main: the bundle requires itself; from source, the .ts file. */
function spawnWorker(data: Record<string, unknown>): Worker {
  const here = import.meta.url;
  if (here.endsWith('.cjs') || here.endsWith('.js')) {
    const bundle = new URL(here).pathname;
    // argv[1] of an eval worker is "[worker eval]", so the bundle's CLI entry does not run again.
    return new Worker(`require(${JSON.stringify(bundle)});`, { eval: true, workerData: data });
  }
  return new Worker(new URL('./worker-main.ts', here), { workerData: data });
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private next = 0;
  private seq = 0;
  private closed = false;
  readonly size: number;
  private readonly timeoutMs: number;
  /** Failures so far, by reason (also reported to onFailure). */
  readonly failures = { crash: 0, hang: 0 };

  constructor(private readonly opts: PoolOptions = {}) {
    this.size = Math.max(0, Math.floor(opts.size ?? availableParallelism()));
    this.timeoutMs = opts.taskTimeoutMs ?? 30_000;
    const startAll = () => {
      if (this.closed) return;
      for (let i = 0; i < this.size; i++) this.slots.push(this.start());
    };
    if (opts.startDelayMs) setTimeout(startAll, opts.startDelayMs).unref();
    else startAll();
  }

  private reportReady(): void {
    this.opts.onReady?.(this.slots.filter((s) => s.ready && !s.dead).length);
  }

  private start(): Slot {
    const slot: Slot = { worker: spawnWorker({ [POOL_WORKER_FLAG]: true, testHooks: this.opts.testHooks === true }), pending: new Map(), dead: false, ready: false };
    slot.worker.on('message', (m: Answer | { ready: true }) => {
      if ('ready' in m) {
        slot.ready = true;
        for (const p of slot.pending.values()) p.timer = this.deadline(slot);
        this.reportReady();
        return;
      }
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      // An idle worker does not keep the process alive; one with work does.
      if (slot.pending.size === 0) slot.worker.unref();
      clearTimeout(p.timer);
      p.resolve(m);
    });
    // An uncaught error ends the worker; 'exit' follows and does the accounting.
    slot.worker.on('error', () => {});
    slot.worker.on('exit', () => this.fail(slot, 'crash'));
    slot.worker.unref();
    return slot;
  }

  /** Rejects what the slot held and puts a fresh worker in its place. */
  private fail(slot: Slot, reason: 'crash' | 'hang'): void {
    if (slot.dead) return;
    slot.dead = true;
    const held = [...slot.pending.values()];
    slot.pending.clear();
    if (this.closed) {
      for (const p of held) (clearTimeout(p.timer), p.reject(new WorkerFailedError('closed')));
      return;
    }
    this.failures[reason]++;
    this.opts.onFailure?.(reason);
    if (reason === 'hang') void slot.worker.terminate();
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots[i] = this.start();
    this.reportReady();
    for (const p of held) (clearTimeout(p.timer), p.reject(new WorkerFailedError(reason)));
  }

  private deadline(slot: Slot): NodeJS.Timeout {
    const timer = setTimeout(() => this.fail(slot, 'hang'), this.timeoutMs);
    timer.unref();
    return timer;
  }

  private run(task: Task, transfer: ArrayBuffer[] = []): Promise<Answer> {
    if (this.closed || this.slots.length === 0) return Promise.reject(new WorkerFailedError('closed'));
    // Least loaded among the started, round robin among equals (a fault task may wait for a start).
    let best: Slot | undefined;
    for (let k = 0; k < this.slots.length; k++) {
      const s = this.slots[(this.next + k) % this.slots.length];
      if (!best || (s.ready && !best.ready) || (s.ready === best.ready && s.pending.size < best.pending.size)) best = s;
    }
    this.next = (this.next + 1) % this.slots.length;
    const slot = best!;
    return new Promise<Answer>((resolve, reject) => {
      slot.pending.set(task.id, { resolve, reject, ...(slot.ready ? { timer: this.deadline(slot) } : {}) });
      slot.worker.ref();
      slot.worker.postMessage(task, transfer);
    });
  }

  /**
   * The checks of a FHIR JSON body (depth, UTF-8, JSON, shape, R4 structure) in a worker;
   * then the resource, parsed here from the bytes the worker handed back. Refusals throw
   * OperationOutcomeError exactly as the in-process checks do.
   */
  async checkInbound(body: Uint8Array, pathType: string | undefined, shape: ShapeLimits): Promise<FhirResource> {
    // No worker (size 0), or none started yet (they load for a second or more): check here.
    if (!this.slots.some((s) => s.ready)) return checkInbound(body, pathType, shape);
    // A private copy is transferred: the caller's buffer may be a slice of a larger one.
    const bytes = body.slice().buffer;
    const a = await this.run({ kind: 'inbound', id: ++this.seq, bytes, pathType, maxDepth: shape.maxDepth, maxEntries: shape.maxEntries }, [bytes]);
    if (a.ok) return JSON.parse(Buffer.from(a.bytes).toString('utf8')) as FhirResource;
    if ('internal' in a) throw new WorkerFailedError('internal');
    throw new OperationOutcomeError(a.refusal);
  }

  /** Test hook: a task that kills or hangs its worker (refused unless started with testHooks). */
  fault(kind: 'crash' | 'hang'): Promise<Answer> {
    return this.run({ kind, id: ++this.seq });
  }

  /** Workers running now (for tests and metrics). */
  threadIds(): number[] {
    return this.slots.map((s) => s.worker.threadId);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
