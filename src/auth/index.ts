/**
 * Who may do what: roles and the action table, authenticated identities, the pure
 * authorize decision, API tokens (stored hashed), the `access` config section and the
 * binding rules start checks. See docs/security.md.
 */
export { ROLES, GRANTS, ACTIONS, ACTION_RULES, isRole, isGrant, isAction, ruleFor } from './roles.js';
export type { Role, Grant, Action, ActionRule } from './roles.js';
export { authorize } from './authorize.js';
export type { Authorization, AuthorizeContext } from './authorize.js';
export {
  identityFromCertificate,
  identityFromBearer,
  identityFromMllpPeer,
  identityFromLoopbackPeer,
  identityFromMetricsBearer,
} from './identity.js';
export type { Identity, IdentityKind, IdentityResult, TokenVerifier, TokenVerdict, CertificateNames } from './identity.js';
export { TokenStore, TokenError, parseToken, parseDuration, TOKEN_PREFIX } from './tokens.js';
export type { TokenInfo, CreateToken, TokenStoreOptions } from './tokens.js';
export { AUTH_MIGRATIONS } from './schema.js';
export { parseAccessConfig, resolveMetricsToken, accessConfigSchema, emptyAccess } from './config.js';
export type { AccessConfig, RoleSet, PlainMllpSender, MetricsTokenRef, ParsedAccess } from './config.js';
export { checkBindings } from './bindings.js';
export type { BindingsInput, BindingProblem, BindingsReport, Listener } from './bindings.js';
export { isLoopbackHost, isLoopbackIp, normalizeIp } from './net.js';
export { ROUTE_RULES, routeRule, routeLabel } from './routes.js';
export type { Api, RouteRule } from './routes.js';
export { RateLimiter } from './rate.js';
export type { RateVerdict } from './rate.js';
export { createHttpAuth } from './hono.js';
export type { HttpAuth, HttpAuthOptions, Denial } from './hono.js';
export { roleMatrixMarkdown, routeMatrixMarkdown, routeExpectation, ASKERS } from './matrix.js';
export type { Asker } from './matrix.js';
