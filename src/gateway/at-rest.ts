/**
 * Queue payloads written before at-rest ciphertexts were bound to their rows: re-encrypted
 * once, at the first start of this version, bound to (message id, destination). The queue's
 * own schema is read here rather than in the queue folder, which knows nothing of keys.
 */
import type { Db } from '../store/index.js';
import { rebindLegacyRows, queueItemAad, type AtRestCipher, type RebindResult } from '../crypto/index.js';

interface Row {
  seq: number;
  message_id: string;
  destination: string;
  cipher_scope: string;
  payload: Buffer | null;
}

export function rebindLegacyQueueRows(db: Db, cipher: Pick<AtRestCipher, 'rebindLegacy'>): RebindResult {
  return rebindLegacyRows<Row>(db, cipher, {
    module: 'queue-at-rest-v2',
    select: 'SELECT seq, message_id, destination, cipher_scope, payload FROM queue_items WHERE seq > ? AND payload IS NOT NULL ORDER BY seq LIMIT ?',
    cursor: (r) => r.seq,
    blob: (r) => r.payload,
    scope: (r) => r.cipher_scope,
    aad: (r) => queueItemAad(r.message_id, r.destination),
    update: (tx, r, blob) => void tx.prepare('UPDATE queue_items SET payload = ? WHERE seq = ?').run(Buffer.from(blob), r.seq),
  });
}
