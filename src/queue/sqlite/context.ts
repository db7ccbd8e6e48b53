/** What the store's parts share: the handle, its statements, the collaborators and the quota count. */
import type { AuditSink, PayloadCipher } from '../../model/index.js';
import type { Db } from '../../store/index.js';
import type { QueueObserver } from '../types.js';
import type { HeldBytes } from './held-bytes.js';
import type { PatientIndex } from './patient-index.js';
import type { Statements } from './statements.js';

export interface StoreContext {
  readonly db: Db;
  readonly s: Statements;
  readonly cipher: PayloadCipher;
  readonly audit: AuditSink;
  readonly clock: () => number;
  readonly observer: QueueObserver;
  readonly held: HeldBytes;
  /** The patient-token index, written after the acknowledgement. */
  readonly index: PatientIndex;
}
