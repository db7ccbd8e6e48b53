/**
 * The token key and keyed hash for the consent CLI: both come from the crypto folder
 * (one token-key maker, one tokenizer), re-exported under the names this folder's
 * callers already use.
 */
export { createTokenizer as hmacTokenizer, loadOrCreateTokenKey } from '../crypto/index.js';
