/** The worker pool for the pure CPU stages of ingest (see pool.ts). */
export { WorkerPool, WorkerFailedError, type PoolOptions } from './pool.js';
