/**
 * HL7 v2 over MLLP: the listener (TCP or TLS), its framer, and the per-frame
 * handling that turns a message into the pipeline's accept call and the ACKs.
 */
export {
  startMllpServer,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_FRAMES,
  DEFAULT_MAX_PENDING_BYTES_PER_CONNECTION,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_CLOSE_GRACE_MS,
} from './server.js';
export type { MllpServer, MllpServerOptions, MllpStats, MllpEvent } from './server.js';
export { handleFrame, handleOversize, handleUnexpected, ackOutcomeOf, DEFAULT_SUPPORTED_VERSIONS } from './handle.js';
export type { MllpAccept, MllpAcceptInput, MllpAcceptResult, HandleDeps, HandledFrame, FrameResult, MllpSecurityEvent } from './handle.js';
export { decideMllpAccess, fieldValue, DEFAULT_BREAK_GLASS_FIELDS, type MllpAccess, type MllpPeer, type BreakGlassFields } from './access.js';
export { MllpFramer, frame, MLLP } from './framer.js';
export type { FramerEvent, FramerOptions } from './framer.js';
export { createMllpAccept, type MllpAcceptOptions } from './accept.js';
