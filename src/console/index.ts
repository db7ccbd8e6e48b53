/**
 * The operator's console (served by the admin listener): overview, messages, consents,
 * audit and policy pages behind the admin route table's roles. See README "Console".
 */
export { createConsoleApp, type ConsoleApp } from './app.js';
export { consoleDeps, sqliteConsoleAudit, postgresConsoleAudit, type GatewayParts } from './wire.js';
export { CONSOLE_ASSETS, consoleAsset } from './assets.js';
export { SESSION_COOKIE } from './session.js';
export { plainError, plainBreaker, plainAge } from './plain.js';
export { summarize, actionsOf, type Overview, type DestinationRow, type Action } from './overview.js';
export type { ConsoleDeps, ConsoleQueue, ConsoleAudit, ConsoleConsents } from './types.js';
