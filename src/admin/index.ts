export { createMetrics, type Metrics } from './metrics.js';
export { createAdminApp, type AdminOptions } from './app.js';
