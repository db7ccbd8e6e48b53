/**
 * Binding rules, checked before any listener opens (start refuses on a problem):
 * - plain HTTP (LAN API or admin) only on loopback;
 * - the admin API needs mTLS or API tokens for everything but /healthz;
 * - MLLP without TLS only on loopback, or for the IPs in access.mllpPlainSenders.
 * Warnings are for start to print loudly: allow-listed plain MLLP senders, roles given to
 * unauthenticated loopback peers, unsigned policies (the demo). Pure.
 */
import type { AccessConfig } from './config.js';
import { isLoopbackHost, isLoopbackIp } from './net.js';

export interface Listener {
  host: string;
  port: number;
}

export interface BindingsInput {
  /** The LAN API: listen.lan, and whether it serves HTTPS with client certificates (lan.tls). */
  lan: { listen: Listener; tls: boolean };
  /** The admin API: listen.admin, admin.tls (mTLS), admin.tokens (accepts API bearer tokens). */
  admin: { listen: Listener; tls: boolean; tokens: boolean };
  /** The MLLP listener (listen.mllp, mllp.tls), or null when there is none. */
  mllp: { listen: Listener; tls: boolean } | null;
  access: AccessConfig;
  /** policy.requireSigned (or requireSignedPolicies), to warn about the unsigned demo. */
  policy?: { requireSigned: boolean };
}

export interface BindingProblem {
  /** The config field to change, e.g. "lan.tls". */
  field: string;
  message: string;
}

export interface BindingsReport {
  problems: BindingProblem[];
  warnings: BindingProblem[];
}

const at = (l: Listener) => `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;

export function checkBindings(input: BindingsInput): BindingsReport {
  const problems: BindingProblem[] = [];
  const warnings: BindingProblem[] = [];
  const { lan, admin, mllp, access } = input;

  if (!lan.tls && !isLoopbackHost(lan.listen.host)) {
    problems.push({
      field: 'lan.tls',
      message: `the LAN API listens on ${at(lan.listen)} without TLS: plain HTTP is allowed only on loopback. Set lan.tls to true, or listen.lan to 127.0.0.1:${lan.listen.port}`,
    });
  }

  if (!admin.tls && !isLoopbackHost(admin.listen.host)) {
    problems.push({
      field: 'admin.tls',
      message: `the admin API listens on ${at(admin.listen)} without TLS: plain HTTP is allowed only on loopback. Set listen.admin to 127.0.0.1:${admin.listen.port}`,
    });
  }
  if (!admin.tls && !admin.tokens) {
    problems.push({
      field: 'admin.tokens',
      message: 'the admin API would answer without authentication: everything but /healthz needs a client certificate (admin.tls) or an API token (admin.tokens)',
    });
  }

  if (mllp) {
    const plainOutside = !mllp.tls && !isLoopbackHost(mllp.listen.host);
    if (plainOutside && access.mllpPlainSenders.length === 0) {
      problems.push({
        field: 'mllp.tls',
        message: `MLLP listens on ${at(mllp.listen)} without TLS and no sender is allow-listed: set mllp.tls to true, listen.mllp to 127.0.0.1:${mllp.listen.port}, or list each legacy sender's IP in access.mllpPlainSenders`,
      });
    }
    access.mllpPlainSenders.forEach((s, i) => {
      const field = `access.mllpPlainSenders[${i}]`;
      if (mllp.tls) {
        warnings.push({ field, message: `"${s.name}" (${s.ip}) is allow-listed for plain MLLP, but MLLP uses TLS: the entry is ignored` });
      } else if (isLoopbackHost(mllp.listen.host) && !isLoopbackIp(s.ip)) {
        warnings.push({ field, message: `"${s.name}" (${s.ip}) cannot reach MLLP on ${at(mllp.listen)} (loopback only): the entry is unused` });
      } else {
        warnings.push({
          field,
          message: `"${s.name}" (${s.ip}) sends HL7 v2 over plain MLLP: no encryption, identified by IP only (roles: ${s.roles.join(', ') || 'none'}); its messages are marked plain in the audit`,
        });
      }
    });
  } else if (access.mllpPlainSenders.length) {
    warnings.push({ field: 'access.mllpPlainSenders', message: 'there is no MLLP listener (listen.mllp is null): the allow-list is unused' });
  }

  if (access.loopback && access.loopback.roles.length) {
    const anyPlainLoopback = (!lan.tls && isLoopbackHost(lan.listen.host)) || (!admin.tls && isLoopbackHost(admin.listen.host)) || (mllp && !mllp.tls && isLoopbackHost(mllp.listen.host));
    warnings.push({
      field: 'access.loopback',
      message: anyPlainLoopback
        ? `any process on this machine may act without authentication as: ${access.loopback.roles.join(', ')}${access.loopback.grants.length ? ` (grants: ${access.loopback.grants.join(', ')})` : ''}. Fit for a demo or a co-located integration engine only`
        : 'no listener is plain on loopback: access.loopback is unused',
    });
  }

  if (input.policy && !input.policy.requireSigned) {
    warnings.push({ field: 'policy.requireSigned', message: 'policies are not required to be signed (the demo setting): anyone who can write the policy folder decides what leaves' });
  }

  return { problems, warnings };
}
