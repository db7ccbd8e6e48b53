export { createLanApp, type LanAppOptions, type ConsentRoutes } from './app.js';
