/**
 * The upstream simulator (reference national-service receiver). See docs/queue.md.
 */
export {
  startSimulator,
  parseControl,
  DEFAULT_SIM_CONTROL,
  DEFAULT_SIM_HOST,
  DEFAULT_SIM_PORT,
  DEFAULT_SIM_MAX_BODY,
  type Simulator,
  type SimulatorOptions,
  type SimulatorState,
  type SimControl,
  type EnvelopeVerdict,
} from './simulator.js';
