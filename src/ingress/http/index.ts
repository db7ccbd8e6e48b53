export { createLanApp, type LanAppOptions, type ConsentRoutes } from './app.js';
export { withHotPost, type HotPostOptions } from './hot-post.js';
