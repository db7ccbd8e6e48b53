/**
 * Which recipient key a destination's envelopes are sealed to: the configured
 * recipientPublicKey (+ recipientKeyId, default its key id), else the demo key pair the key
 * store made for the built-in simulator. Bad config → an error naming the field.
 */
import type { Destination } from '../model/index.js';
import { fromB64, keyIdOf } from './encoding.js';
import { EnvelopeInputError } from './errors.js';
import type { KeyStore } from './keystore.js';
import { RECIPIENT_KEY_ID_RE, type RecipientRef } from './envelope.js';

export function resolveRecipient(
  destination: Pick<Destination, 'name' | 'recipientPublicKey' | 'recipientKeyId'>,
  keys?: Pick<KeyStore, 'demoRecipient'>,
): RecipientRef & { publicKey: Uint8Array } {
  if (destination.recipientPublicKey) {
    let publicKey: Uint8Array;
    try {
      publicKey = fromB64(destination.recipientPublicKey, `destinations.${destination.name}.recipientPublicKey`, 32);
    } catch (err) {
      throw new EnvelopeInputError(`${(err as Error).message} (expected base64 of a 32-byte X25519 key)`);
    }
    const keyId = destination.recipientKeyId ?? keyIdOf(publicKey);
    if (!RECIPIENT_KEY_ID_RE.test(keyId)) {
      throw new EnvelopeInputError(`destinations.${destination.name}.recipientKeyId: expected 1–64 letters, digits, ".", "_", ":" or "-"`);
    }
    return { keyId, publicKey };
  }
  if (!keys) throw new EnvelopeInputError(`destinations.${destination.name}.recipientPublicKey: not configured`);
  const demo = keys.demoRecipient(destination.name);
  return { keyId: demo.keyId, publicKey: demo.publicKey };
}
