export { createPipeline, type Pipeline, type IngestRequest, type IngestAnswer, type IngestResult, type MessageStore } from './ingest.js';
export {
  factsOf,
  itemContextOf,
  parseItemContext,
  parseDecisionFacts,
  parseStoredOutcomes,
  StoredContextError,
  ITEM_CONTEXT_VERSION,
  type DecisionFacts,
  type ItemContext,
  type StoredOutcome,
} from './context.js';
export { createRecheck, createConsentPrefetch, type ConsentPrefetch, type RecheckItem, type RecheckVerdict, type RecheckOptions } from './recheck.js';
export { explainMessage, type StoredMessage, type MessageExplanation } from './explain.js';
export { route, type RouteInput, type RouteResult } from './route.js';
export { PASS_THROUGH_STAGES, type Stages, type PolicyInput, type ConsentCheck, type SealInput } from './stages.js';
export { WorkerPool, WorkerFailedError, type PoolOptions } from './workers/index.js';
