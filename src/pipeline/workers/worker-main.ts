/**
 * The pool worker's loop. It runs when this module is loaded inside a worker thread the
 * pool started (workerData carries the flag); anywhere else, loading it does nothing.
 * Each task is answered once; a thrown refusal crosses as its outcome, anything else
 * as a bare "internal" (no text: it could quote the body).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { OperationOutcomeError, loadFhirDefinitions } from '../../fhir/index.js';
import { checkInbound } from '../../fhir/index.js';
import { POOL_WORKER_FLAG, type Answer, type Task } from './protocol.js';

function serve(testHooks: boolean): void {
  const port = parentPort!;
  loadFhirDefinitions();
  port.on('message', (task: Task) => {
    if (task.kind !== 'inbound') {
      if (!testHooks) port.postMessage({ id: task.id, ok: false, internal: true } satisfies Answer);
      else if (task.kind === 'crash') process.exit(70);
      else for (;;); // a stuck stage: only terminate() ends this
      return;
    }
    let answer: Answer;
    try {
      checkInbound(new Uint8Array(task.bytes), task.pathType, { maxDepth: task.maxDepth, maxEntries: task.maxEntries });
      answer = { id: task.id, ok: true, bytes: task.bytes };
    } catch (err) {
      answer = err instanceof OperationOutcomeError ? { id: task.id, ok: false, refusal: err.result, bytes: task.bytes } : { id: task.id, ok: false, internal: true };
    }
    port.postMessage(answer, 'bytes' in answer ? [answer.bytes] : []);
  });
  port.postMessage({ ready: true });
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[POOL_WORKER_FLAG]) {
  serve((workerData as { testHooks?: boolean }).testHooks === true);
}
