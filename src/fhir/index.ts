export * from './outcomes.js';
export * from './validate.js';
export * from './hono.js';
