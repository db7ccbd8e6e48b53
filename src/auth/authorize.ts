/**
 * The one decision: may this identity do this action? Pure; the answer carries its
 * reason (for the 403 OperationOutcome, the HL7 AR and the audit entry).
 */
import { ACTION_RULES, isAction, type Action, type Role } from './roles.js';
import type { Identity } from './identity.js';

export interface AuthorizeContext {
  /** For 'message.read.own': the identity name recorded as the message's sender. */
  owner?: string;
  /** For 'purpose.etreat': the X-Break-Glass-Reason header. */
  breakGlassReason?: string;
}

export interface Authorization {
  allowed: boolean;
  reason: string;
  action: Action;
  /** The roles the identity held (empty without one). */
  roles: readonly Role[];
  /** The role that allowed it, when allowed by a role. */
  via?: Role;
}

function who(identity: Identity): string {
  return `${identity.kind} "${identity.name}"`;
}

export function authorize(identity: Identity | undefined, action: Action, ctx: AuthorizeContext = {}): Authorization {
  const roles = identity?.roles ?? [];
  const deny = (reason: string): Authorization => ({ allowed: false, reason, action, roles });
  // Unknown actions (a caller's typo through an untyped path) are refused, never allowed.
  if (!isAction(action)) return deny(`unknown action "${String(action)}"`);
  if (!identity) return deny(`${action} needs an authenticated identity (client certificate or API token)`);
  // The metrics scrape token is good for /metrics and nothing else.
  if (identity.kind === 'metrics-token') {
    return action === 'metrics.read'
      ? { allowed: true, reason: 'the metrics token may read /metrics', action, roles }
      : deny(`the metrics token may only read /metrics, not ${action}`);
  }
  const rule = ACTION_RULES[action];
  const via = rule.roles.find((r) => roles.includes(r));
  if (!via) {
    const held = roles.length ? `holds ${roles.join(', ')}` : 'holds no role';
    return deny(`${who(identity)} ${held}; ${action} needs one of: ${rule.roles.join(', ')}`);
  }
  if ('grant' in rule && rule.grant && !identity.grants.includes(rule.grant)) {
    return deny(`${who(identity)} lacks the "${rule.grant}" grant that ${action} needs`);
  }
  if (action === 'purpose.etreat' && !(ctx.breakGlassReason ?? '').trim()) {
    return deny('purpose ETREAT (break-glass) needs an X-Break-Glass-Reason');
  }
  if (action === 'message.read.own') {
    // Unknown owner means deny: the caller must say whose message it is.
    if (ctx.owner === undefined) return deny('message.read.own needs the message\'s sender to compare with');
    if (ctx.owner !== identity.name) return deny(`${who(identity)} did not send this message`);
  }
  return { allowed: true, reason: `${who(identity)} has role ${via}${'grant' in rule && rule.grant ? ` and grant ${rule.grant}` : ''}`, action, roles, via };
}
