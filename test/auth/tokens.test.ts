import t, { type Test } from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import { TokenError, TokenStore, identityFromBearer, parseDuration, parseToken } from '../../src/auth/index.js';

const DAY = 86_400_000;
const T0 = new Date('2025-03-01T10:00:00Z');

function store(t: Test) {
  const dir = t.testdir();
  const file = join(dir, 'darwaza.db');
  const db = openDatabase(file);
  t.teardown(() => db.close());
  return { dir, file, db, tokens: TokenStore.open(db) };
}

t.test('create → verify ok; the token has the documented format and carries its roles', async (t) => {
  const { tokens } = store(t);
  const { token, info } = tokens.create({ name: 'nightly-export', roles: ['auditor'], expiresAt: new Date(T0.getTime() + 30 * DAY) }, T0);
  t.match(token, /^dz_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  t.equal(parseToken(token)?.id, info.id);
  t.equal(Buffer.from(parseToken(token)!.secret, 'base64url').length, 32, '32 random bytes');
  const v = tokens.verify(token, new Date(T0.getTime() + DAY));
  t.same(v, { ok: true, id: info.id, name: 'nightly-export', roles: ['auditor'], grants: [] });
  const id = identityFromBearer(`Bearer ${token}`, tokens, new Date(T0.getTime() + DAY));
  t.ok(id.ok);
  if (id.ok) t.same(id.identity, { kind: 'token', name: 'nightly-export', roles: ['auditor'], grants: [], tokenId: info.id });
  t.ok(tokens.get(info.id)?.lastUsedAt, 'last use recorded');
});

t.test('wrong secret, expired, revoked, unknown id and garbage are refused with reasons', async (t) => {
  const { tokens } = store(t);
  const { token, info } = tokens.create({ name: 'ops', roles: ['operator'], expiresAt: new Date(T0.getTime() + DAY) }, T0);
  const { secret } = parseToken(token)!;
  const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
  const later = new Date(T0.getTime() + 1000);

  let v = tokens.verify(`dz_${info.id}_${flipped}`, later);
  t.notOk(v.ok);
  if (!v.ok) t.match(v.reason, /wrong secret/);

  v = tokens.verify(token, new Date(T0.getTime() + DAY));
  t.notOk(v.ok, 'refused at the expiry instant');
  if (!v.ok) t.match(v.reason, /expired/);

  v = tokens.verify(`dz_0123456789abcdef_${secret}`, later);
  t.notOk(v.ok);
  if (!v.ok) t.match(v.reason, /unknown token 0123456789abcdef/);

  for (const bad of ['', 'dz_', 'Bearer', `dz_${info.id}`, `xx_${info.id}_${secret}`, `dz_${info.id}_${secret}x`]) {
    const r = tokens.verify(bad, later);
    t.notOk(r.ok, `garbage ${JSON.stringify(bad.slice(0, 24))}`);
  }

  t.ok(tokens.verify(token, later).ok, 'still fine before revoking (and now cached)');
  t.equal(tokens.revoke(info.id, later).outcome, 'revoked');
  v = tokens.verify(token, later);
  t.notOk(v.ok, 'the cache does not outlive a revoke');
  if (!v.ok) t.match(v.reason, /revoked/);
  t.equal(tokens.revoke(info.id, later).outcome, 'already-revoked');
  t.equal(tokens.revoke('ffffffffffffffff', later).outcome, 'unknown');

  const h = identityFromBearer(`Basic ${token}`, tokens, later);
  t.notOk(h.ok);
  t.same(identityFromBearer(undefined, tokens, later), { ok: false, reason: 'no Authorization header', absent: true });
});

t.test('a revoke through another connection (the CLI beside a running gateway) reaches a warm cache', async (t) => {
  const { file, db, tokens } = store(t);
  const { token, info } = tokens.create({ name: 'console', roles: ['operator'], expiresAt: new Date(T0.getTime() + DAY) }, T0);
  const later = new Date(T0.getTime() + 1000);
  t.ok(tokens.verify(token, later).ok);
  // A write on the gateway's own connection does not bump data_version: proof the row is cached.
  db.prepare('UPDATE auth_tokens SET name = ? WHERE id = ?').run('renamed', info.id);
  const cached = tokens.verify(token, later);
  t.ok(cached.ok && cached.name === 'console', 'served from the cache');
  const other = openDatabase(file);
  t.equal(TokenStore.open(other).revoke(info.id, later).outcome, 'revoked');
  other.close();
  const v = tokens.verify(token, later);
  t.notOk(v.ok);
  if (!v.ok) t.match(v.reason, /revoked/);
});

t.test('secrets are never stored: neither the secret nor the whole token is in any database file', async (t) => {
  const { dir, db, tokens } = store(t);
  const made = [0, 1, 2].map((i) => tokens.create({ name: `t${i}`, roles: ['sender'], grants: ['break-glass'], expiresAt: new Date(T0.getTime() + DAY) }, T0));
  for (const m of made) t.ok(tokens.verify(m.token, new Date(T0.getTime() + 1)).ok);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const files = readdirSync(dir).filter((f) => f.startsWith('darwaza.db'));
  t.ok(files.includes('darwaza.db'));
  const bytes = Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
  for (const m of made) {
    const { secret } = parseToken(m.token)!;
    t.equal(bytes.indexOf(secret), -1, 'the secret (text) is absent');
    t.equal(bytes.indexOf(Buffer.from(secret, 'base64url')), -1, 'the secret (raw bytes) is absent');
    t.equal(bytes.indexOf(m.token), -1, 'the token is absent');
    t.not(bytes.indexOf(m.info.id), -1, 'the id is there (the check above can find text)');
  }
  const listed = JSON.stringify(tokens.list());
  for (const m of made) t.notMatch(listed, parseToken(m.token)!.secret);
});

t.test('create refuses bad requests', async (t) => {
  const { tokens } = store(t);
  const exp = new Date(T0.getTime() + DAY);
  t.throws(() => tokens.create({ name: 'x', roles: [], expiresAt: exp }, T0), TokenError);
  t.throws(() => tokens.create({ name: 'x', roles: ['root'], expiresAt: exp }, T0), /not a role/);
  t.throws(() => tokens.create({ name: 'x', roles: ['operator'], grants: ['break-glass'], expiresAt: exp }, T0), /only apply to the "sender"/);
  t.throws(() => tokens.create({ name: 'x', roles: ['sender'], grants: ['god-mode'], expiresAt: exp }, T0), /not a grant/);
  t.throws(() => tokens.create({ name: 'has space', roles: ['sender'], expiresAt: exp }, T0), /name/);
  t.throws(() => tokens.create({ name: 'x', roles: ['sender'], expiresAt: T0 }, T0), /future/);
  t.same(tokens.list(), []);
});

t.test('the migration is forward-only and idempotent', async (t) => {
  const { db } = store(t);
  TokenStore.open(db);
  const rows = db.prepare("SELECT version FROM schema_migrations WHERE module = 'auth'").all();
  t.same(rows, [{ version: 1 }]);
});

t.test('durations', async (t) => {
  t.equal(parseDuration('90d'), 90 * DAY);
  t.equal(parseDuration('12h'), 12 * 3_600_000);
  t.equal(parseDuration('30m'), 30 * 60_000);
  for (const bad of ['0d', '-1d', '1y', 'd', '', '1.5d']) t.equal(parseDuration(bad), undefined, bad);
});
