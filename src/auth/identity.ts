/**
 * Authenticated identities and how each channel yields one: a client certificate's
 * names (CN/SAN, already verified against darwaza's CA by TLS), an API bearer token,
 * a plain-MLLP peer IP on the allow-list, an unauthenticated peer on a loopback listener
 * (the demo; only when access.loopback grants it roles), or the Prometheus metrics token.
 * Every function here is pure given its inputs and answers with a reason.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Grant, Role } from './roles.js';
import type { AccessConfig } from './config.js';
import { isLoopbackIp, normalizeIp } from './net.js';

export type IdentityKind = 'certificate' | 'token' | 'mllp-ip' | 'loopback' | 'metrics-token';

export interface Identity {
  kind: IdentityKind;
  /** Certificate name, token name, allow-listed sender name; never patient data. */
  name: string;
  roles: readonly Role[];
  grants: readonly Grant[];
  /** For kind 'token': the token's id (safe to log and audit; the secret is not). */
  tokenId?: string;
  /** Came over a channel without TLS (plain MLLP, loopback plain HTTP): the audit marks it. */
  plain?: boolean;
}

export type IdentityResult =
  | { ok: true; identity: Identity; reason: string }
  /** absent: nothing was presented at all (so a caller may try another channel). */
  | { ok: false; reason: string; absent?: boolean };

/** What identityFromBearer needs from a token store (TokenStore satisfies it). */
export interface TokenVerifier {
  verify(token: string, now: Date): TokenVerdict;
}

export type TokenVerdict =
  | { ok: true; id: string; name: string; roles: readonly Role[]; grants: readonly Grant[] }
  | { ok: false; reason: string; id?: string };

export interface CertificateNames {
  cn?: string;
  /** Subject alternative names as plain values (DNS names, URIs, IPs), without "DNS:" prefixes. */
  san?: readonly string[];
}

/**
 * Maps a verified client certificate to its entry in access.clients: the CN first, then
 * each SAN in order. A certificate from our CA with no entry is still an identity, with
 * no roles: authorize then refuses it with a reason that names it.
 */
export function identityFromCertificate(names: CertificateNames, access: AccessConfig): IdentityResult {
  const candidates = [names.cn, ...(names.san ?? [])].filter((n): n is string => typeof n === 'string' && n.length > 0);
  if (candidates.length === 0) return { ok: false, reason: 'the client certificate names no CN or SAN' };
  for (const name of candidates) {
    const entry = Object.hasOwn(access.clients, name) ? access.clients[name] : undefined;
    if (entry) {
      return {
        ok: true,
        identity: { kind: 'certificate', name, roles: entry.roles, grants: entry.grants },
        reason: `certificate "${name}" is in access.clients`,
      };
    }
  }
  return {
    ok: true,
    identity: { kind: 'certificate', name: candidates[0]!, roles: [], grants: [] },
    reason: `certificate "${candidates[0]}" is not in access.clients: it has no roles`,
  };
}

/** Parses an Authorization header ("Bearer dz_…") and verifies the token. */
export function identityFromBearer(header: string | undefined, tokens: TokenVerifier, now: Date): IdentityResult {
  const bearer = bearerOf(header);
  if (!bearer.ok) return bearer;
  const v = tokens.verify(bearer.token, now);
  if (!v.ok) return { ok: false, reason: v.reason };
  return {
    ok: true,
    identity: { kind: 'token', name: v.name, roles: v.roles, grants: v.grants, tokenId: v.id },
    reason: `token ${v.id} ("${v.name}") is valid`,
  };
}

/**
 * A peer on an MLLP listener without TLS: an allow-listed IP (access.mllpPlainSenders)
 * gets its entry's roles; otherwise a loopback peer gets access.loopback's roles when
 * configured; anyone else is refused. Both kinds are marked plain.
 */
export function identityFromMllpPeer(ip: string, access: AccessConfig): IdentityResult {
  const peer = normalizeIp(ip);
  const entry = access.mllpPlainSenders.find((s) => s.ip === peer);
  if (entry) {
    return {
      ok: true,
      identity: { kind: 'mllp-ip', name: entry.name, roles: entry.roles, grants: entry.grants, plain: true },
      reason: `plain MLLP peer ${peer} is allow-listed as "${entry.name}"`,
    };
  }
  if (isLoopbackIp(peer)) return identityFromLoopbackPeer(peer, access);
  return { ok: false, reason: `plain MLLP from ${peer} is refused: not loopback and not in access.mllpPlainSenders` };
}

/** An unauthenticated peer on a listener without TLS: only loopback, only with access.loopback. */
export function identityFromLoopbackPeer(ip: string, access: AccessConfig): IdentityResult {
  const peer = normalizeIp(ip);
  if (!isLoopbackIp(peer)) return { ok: false, reason: `unauthenticated peer ${peer} is not on loopback` };
  if (!access.loopback) return { ok: false, reason: 'unauthenticated loopback peers have no roles (access.loopback is not set)' };
  return {
    ok: true,
    identity: { kind: 'loopback', name: 'loopback', roles: access.loopback.roles, grants: access.loopback.grants, plain: true },
    reason: 'unauthenticated loopback peer given access.loopback roles',
  };
}

/**
 * The Prometheus scrape token (access.metricsToken, resolved to its SHA-256): an identity
 * that may only read /metrics. Constant-time comparison of the hashes.
 */
export function identityFromMetricsBearer(header: string | undefined, expectedSha256: Uint8Array | undefined): IdentityResult {
  if (!expectedSha256) return { ok: false, reason: 'no metrics token is configured', absent: !header };
  const bearer = bearerOf(header);
  if (!bearer.ok) return bearer;
  const got = createHash('sha256').update(bearer.token, 'utf8').digest();
  if (got.length !== expectedSha256.length || !timingSafeEqual(got, expectedSha256)) {
    return { ok: false, reason: 'the bearer token is not the metrics token' };
  }
  return { ok: true, identity: { kind: 'metrics-token', name: 'metrics', roles: [], grants: [] }, reason: 'metrics token matches' };
}

function bearerOf(header: string | undefined): { ok: true; token: string } | { ok: false; reason: string; absent?: boolean } {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'no Authorization header', absent: true };
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m) return { ok: false, reason: 'the Authorization header is not "Bearer <token>"' };
  return { ok: true, token: m[1]! };
}
