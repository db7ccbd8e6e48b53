/**
 * The console's browser session: the API token the person signed in with, kept in an
 * HttpOnly SameSite=Strict cookie and turned into the Authorization header before the
 * route guard, so src/auth verifies it exactly as a bearer token (expiry and revocation
 * included, on every request). Forms that change something carry a CSRF token: an HMAC,
 * under a per-process secret, of the session cookie.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';

export const SESSION_COOKIE = 'darwaza_console';

const EXPLICIT = 'consoleExplicitAuth';

/** Copies the session cookie into Authorization when the request has none of its own. */
export const sessionToHeader: MiddlewareHandler = async (c, next) => {
  const header = c.req.header('authorization');
  if (header !== undefined && header.trim() !== '') {
    c.set(EXPLICIT as never, true as never);
  } else {
    const token = getCookie(c, SESSION_COOKIE);
    if (token && /^[\x21-\x7e]+$/.test(token)) c.req.raw.headers.set('authorization', `Bearer ${token}`);
  }
  await next();
};

/** A request that carried its own Authorization header cannot be forged cross-site: no CSRF token needed. */
export const explicitAuth = (c: Context): boolean => c.get(EXPLICIT as never) === true;

export class Csrf {
  private readonly secret = randomBytes(32);

  /** The token for this request's session (or for no session: loopback identities). */
  tokenFor(c: Context): string {
    return createHmac('sha256', this.secret)
      .update(getCookie(c, SESSION_COOKIE) ?? '')
      .digest('base64url');
  }

  /** True when the form's token matches, and the Origin header (when sent) is this host. */
  check(c: Context, given: unknown): boolean {
    const origin = c.req.header('origin');
    const host = c.req.header('host');
    if (origin && origin !== 'null' && host && origin !== `http://${host}` && origin !== `https://${host}`) return false;
    if (origin === 'null') return false;
    if (typeof given !== 'string') return false;
    const want = Buffer.from(this.tokenFor(c));
    const got = Buffer.from(given);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}
