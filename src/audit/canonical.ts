/**
 * Canonical JSON for audit entries and tree heads: the one implementation in
 * src/crypto (RFC 8785 subset: sorted keys, no whitespace, JSON.stringify escaping,
 * finite numbers only), with its refusals reported as CanonicalJsonError.
 */
import { canonicalJson as canonical } from '../crypto/index.js';

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

export function canonicalJson(value: unknown): string {
  try {
    return canonical(value);
  } catch (err) {
    if (err instanceof TypeError) throw new CanonicalJsonError(err.message.replace(/^canonicalJson: /, ''));
    throw err;
  }
}
