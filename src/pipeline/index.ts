export { createPipeline, factsOf, type DecisionFacts, type Pipeline, type IngestRequest, type IngestAnswer, type IngestResult, type MessageStore, type ItemContext } from './ingest.js';
export { route, type RouteInput, type RouteResult } from './route.js';
export { PASS_THROUGH_STAGES, type Stages, type PolicyInput, type ConsentCheck, type SealInput } from './stages.js';
