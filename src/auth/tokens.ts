/**
 * API tokens for scripts and the console: `dz_<id>_<secret>`, the secret 32 random bytes
 * in base64url. Only the SHA-256 of the secret is stored (a 256-bit random secret needs no
 * slow hash); verification compares hashes in constant time.
 *
 * Verification is cheap: rows are cached by id. The cache is dropped when this store
 * revokes, and whenever SQLite's data_version says another connection (the `darwaza tokens`
 * CLI beside a running gateway) committed, so a revoke takes effect on the next request.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { migrate, type Db } from '../store/index.js';
import { AUTH_MIGRATIONS } from './schema.js';
import { isGrant, isRole, type Grant, type Role } from './roles.js';
import type { TokenVerdict, TokenVerifier } from './identity.js';

export const TOKEN_PREFIX = 'dz';
const TOKEN_RE = /^dz_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export interface TokenInfo {
  id: string;
  name: string;
  roles: Role[];
  grants: Grant[];
  createdAt: Date;
  expiresAt: Date;
  revokedAt?: Date;
  lastUsedAt?: Date;
}

export interface CreateToken {
  name: string;
  roles: readonly string[];
  grants?: readonly string[];
  expiresAt: Date;
}

/** A token request that cannot be honoured (bad name, role, grant or expiry). */
export class TokenError extends Error {
  override name = 'TokenError';
}

interface Row {
  id: string;
  name: string;
  secret_sha256: Buffer;
  roles: string;
  grants: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

type Cached = Row & { parsedRoles: Role[]; parsedGrants: Grant[] };

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Splits a presented token; undefined when it is not one of ours. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

function info(r: Row): TokenInfo {
  return {
    id: r.id,
    name: r.name,
    roles: JSON.parse(r.roles) as Role[],
    grants: JSON.parse(r.grants) as Grant[],
    createdAt: new Date(r.created_at),
    expiresAt: new Date(r.expires_at),
    ...(r.revoked_at !== null ? { revokedAt: new Date(r.revoked_at) } : {}),
    ...(r.last_used_at !== null ? { lastUsedAt: new Date(r.last_used_at) } : {}),
  };
}

export interface TokenStoreOptions {
  /** Record last_used_at at most this often per token (a write per request would be waste). Default 60 s. */
  lastUsedEveryMs?: number;
}

export class TokenStore implements TokenVerifier {
  /** Rows by id, with roles and grants already parsed. */
  private readonly cache = new Map<string, Cached>();
  private seenVersion: number;
  private readonly stmts;

  private constructor(
    private readonly db: Db,
    private readonly options: Required<TokenStoreOptions>,
  ) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO auth_tokens (id, name, secret_sha256, roles, grants, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      byId: db.prepare('SELECT * FROM auth_tokens WHERE id = ?'),
      all: db.prepare('SELECT * FROM auth_tokens ORDER BY created_at, id'),
      revoke: db.prepare('UPDATE auth_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      used: db.prepare('UPDATE auth_tokens SET last_used_at = ? WHERE id = ?'),
      version: db.prepare('PRAGMA data_version').pluck(),
    };
    this.seenVersion = this.stmts.version.get() as number;
  }

  /** Migrates the token table (forward only) and opens the store on the gateway's database. */
  static open(db: Db, options: TokenStoreOptions = {}): TokenStore {
    migrate(db, 'auth', AUTH_MIGRATIONS);
    return new TokenStore(db, { lastUsedEveryMs: options.lastUsedEveryMs ?? 60_000 });
  }

  /** Makes a token. The returned `token` is the only time the secret exists outside its holder. */
  create(req: CreateToken, now: Date = new Date()): { token: string; info: TokenInfo } {
    if (!NAME_RE.test(req.name)) throw new TokenError(`name "${req.name.slice(0, 64)}": use letters, digits and . _ @ - (at most 64)`);
    if (req.roles.length === 0) throw new TokenError('a token needs at least one role');
    const roles: Role[] = [];
    for (const r of req.roles) {
      if (!isRole(r)) throw new TokenError(`"${r.slice(0, 40)}" is not a role`);
      if (!roles.includes(r)) roles.push(r);
    }
    const grants: Grant[] = [];
    for (const g of req.grants ?? []) {
      if (!isGrant(g)) throw new TokenError(`"${g.slice(0, 40)}" is not a grant`);
      if (!grants.includes(g)) grants.push(g);
    }
    if (grants.length && !roles.includes('sender')) throw new TokenError('grants only apply to the "sender" role');
    if (!(req.expiresAt.getTime() > now.getTime())) throw new TokenError('the expiry must be in the future');
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    this.stmts.insert.run(id, req.name, sha256(secret), JSON.stringify(roles), JSON.stringify(grants), now.getTime(), req.expiresAt.getTime());
    return { token: `${TOKEN_PREFIX}_${id}_${secret}`, info: info(this.stmts.byId.get(id) as Row) };
  }

  /** Every token, oldest first; never a secret or its hash. */
  list(): TokenInfo[] {
    return (this.stmts.all.all() as Row[]).map(info);
  }

  get(id: string): TokenInfo | undefined {
    const r = this.stmts.byId.get(id) as Row | undefined;
    return r && info(r);
  }

  /** Revokes for good. Answers what happened, so the CLI can say "already revoked" or "unknown". */
  revoke(id: string, now: Date = new Date()): { outcome: 'revoked' | 'already-revoked' | 'unknown'; info?: TokenInfo } {
    const changed = this.stmts.revoke.run(now.getTime(), id).changes;
    this.cache.delete(id);
    const r = this.get(id);
    if (!r) return { outcome: 'unknown' };
    return { outcome: changed ? 'revoked' : 'already-revoked', info: r };
  }

  verify(token: string, now: Date = new Date()): TokenVerdict {
    const parsed = parseToken(token);
    if (!parsed) return { ok: false, reason: 'not a darwaza API token (dz_<id>_<secret>)' };
    const row = this.row(parsed.id);
    if (!row) return { ok: false, reason: `unknown token ${parsed.id}`, id: parsed.id };
    // Compare the secret first, so a stranger learns nothing about the token's state.
    if (!timingSafeEqual(sha256(parsed.secret), row.secret_sha256)) return { ok: false, reason: `token ${row.id}: wrong secret`, id: row.id };
    if (row.revoked_at !== null) return { ok: false, reason: `token ${row.id} was revoked at ${new Date(row.revoked_at).toISOString()}`, id: row.id };
    if (now.getTime() >= row.expires_at) return { ok: false, reason: `token ${row.id} expired at ${new Date(row.expires_at).toISOString()}`, id: row.id };
    if (row.last_used_at === null || now.getTime() - row.last_used_at >= this.options.lastUsedEveryMs) {
      row.last_used_at = now.getTime();
      try {
        this.stmts.used.run(row.last_used_at, row.id);
      } catch {
        /* a read-only database cannot record use; verification does not depend on it */
      }
    }
    return { ok: true, id: row.id, name: row.name, roles: row.parsedRoles, grants: row.parsedGrants };
  }

  private row(id: string): Cached | undefined {
    const version = this.stmts.version.get() as number;
    if (version !== this.seenVersion) {
      this.seenVersion = version;
      this.cache.clear();
    }
    let c = this.cache.get(id);
    if (!c) {
      const r = this.stmts.byId.get(id) as Row | undefined;
      if (!r) return undefined;
      c = { ...r, parsedRoles: JSON.parse(r.roles) as Role[], parsedGrants: JSON.parse(r.grants) as Grant[] };
      this.cache.set(id, c);
    }
    return c;
  }
}

/** "90d", "12h", "30m" → milliseconds; undefined when not a positive duration. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d{1,6})([dhm])$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (n <= 0) return undefined;
  return n * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
}
