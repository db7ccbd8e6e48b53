/**
 * The role matrix as a Markdown table, made from the action table by asking authorize
 * itself (so the docs show what the code decides, grants and all). docs/security.md
 * carries it between role-matrix markers; a test keeps the two equal.
 */
import { ACTIONS, ACTION_RULES, ROLES, type Role } from './roles.js';
import { authorize } from './authorize.js';
import type { Identity } from './identity.js';
import { ROUTE_RULES, type RouteRule } from './routes.js';

export function roleMatrixMarkdown(): string {
  const head = ['action', ...ROLES, 'metrics token', 'no identity'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const action of ACTIONS) {
    const rule = ACTION_RULES[action];
    const cells = ROLES.map((role: Role) => {
      // The owner and break-glass reason are supplied: the matrix shows who may, given a proper request.
      const ctx = { owner: 'x', breakGlassReason: 'shown in the matrix' };
      const plain = authorize({ kind: 'token', name: 'x', roles: [role], grants: [] }, action, ctx).allowed;
      if (plain) return 'yes';
      if ('grant' in rule && rule.grant && authorize({ kind: 'token', name: 'x', roles: [role], grants: [rule.grant] }, action, ctx).allowed) {
        return `with ${rule.grant}`;
      }
      return '—';
    });
    const metrics = authorize({ kind: 'metrics-token', name: 'metrics', roles: [], grants: [] }, action).allowed ? 'yes' : '—';
    const none = authorize(undefined, action).allowed ? 'yes' : '—';
    lines.push(`| \`${action}\` | ${[...cells, metrics, none].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Who asks, in the route matrix: a role held alone, the metrics token, or nobody. */
export type Asker = Role | 'metrics token' | 'no identity';

/**
 * What a route answers an asker holding only that role (asked of authorize, like the
 * action matrix): 'open' (no identity needed), 'yes', 'own' (only for its own messages)
 * or 'no'.
 */
export function routeExpectation(rule: RouteRule, asker: Asker): 'open' | 'yes' | 'own' | 'no' {
  if (rule.action === null) return 'open';
  const identity: Identity | undefined =
    asker === 'no identity'
      ? undefined
      : asker === 'metrics token'
        ? { kind: 'metrics-token', name: 'metrics', roles: [], grants: [] }
        : { kind: 'token', name: 'x', roles: [asker], grants: [] };
  if (authorize(identity, rule.action).allowed) return 'yes';
  if (rule.orOwn && authorize(identity, rule.orOwn, { owner: 'x' }).allowed) return 'own';
  return 'no';
}

export const ASKERS: readonly Asker[] = [...ROLES, 'metrics token', 'no identity'];

/** The route matrix as Markdown (docs/security.md carries it between route-matrix markers). */
export function routeMatrixMarkdown(): string {
  const head = ['API', 'route', 'action', ...ASKERS];
  const cell = { open: 'open', yes: 'yes', own: 'own', no: '—' } as const;
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of ROUTE_RULES) {
    const action = r.action === null ? '—' : `\`${r.action}\`${r.orOwn ? ` or \`${r.orOwn}\`` : ''}${r.rateLimited ? ' (rate-limited)' : ''}`;
    lines.push(`| ${r.api} | \`${r.method} ${r.path}\` | ${action} | ${ASKERS.map((a) => cell[routeExpectation(r, a)]).join(' | ')} |`);
  }
  return lines.join('\n');
}
