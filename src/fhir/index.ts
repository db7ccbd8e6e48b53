export * from './outcomes.js';
export * from './validate.js';
