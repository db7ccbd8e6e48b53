/**
 * The audit verify worker's loop: it runs when this module is loaded inside a worker thread
 * that verify-workers.ts started (workerData carries the flag); anywhere else, loading it
 * does nothing. Each batch is answered with its leaf hashes (transferred) and its first fault.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { checkLeaves, type LeafTask } from './leaf-check.js';

export const AUDIT_VERIFY_WORKER_FLAG = 'darwazaAuditVerifyWorker';

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[AUDIT_VERIFY_WORKER_FLAG]) {
  const port = parentPort!;
  port.on('message', (msg: { id: number; task: LeafTask }) => {
    const batch = checkLeaves(msg.task);
    port.postMessage({ id: msg.id, batch }, [batch.leaves]);
  });
}
