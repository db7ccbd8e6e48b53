export * from './outcomes.js';
export * from './validate.js';
export * from './hono.js';
export * from './structure.js';
export * from './depth.js';
export * from './negotiate.js';
export * from './capability.js';
export * from './responses.js';
