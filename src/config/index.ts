export { loadConfig, resolveConfig, parseHostPort, ConfigError } from './load.js';
export { gatewayConfigSchema } from './schema.js';
export { DEMO_CONFIG, DEFAULT_TIMEZONE } from './defaults.js';
export type { GatewayConfig, DestinationConfig, Route, HostPort } from './types.js';
