/**
 * The role matrix as a Markdown table, made from the action table by asking authorize
 * itself (so the docs show what the code decides, grants and all). docs/security.md
 * carries it between role-matrix markers; a test keeps the two equal.
 */
import { ACTIONS, ACTION_RULES, ROLES, type Role } from './roles.js';
import { authorize } from './authorize.js';

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
