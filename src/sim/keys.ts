/**
 * The simulator acting as the national service: it opens envelopes with the demo
 * recipient keys in a certs folder and trusts the gateway keys listed there
 * (re-read when an unknown signer appears, so a key rotation needs no restart).
 */
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createReceiver, loadOrCreateKeyStore } from '../crypto/index.js';
import type { EnvelopeVerdict } from './simulator.js';

export async function envelopeOpenerFromCerts(certsDir: string): Promise<(body: Buffer) => EnvelopeVerdict> {
  if (!existsSync(join(certsDir, 'signing-keys.json'))) throw new Error(`${certsDir}: no gateway keys here (run darwaza init first)`);
  const keys = await loadOrCreateKeyStore(certsDir);
  const recipients = readdirSync(certsDir)
    .filter((f) => /^recipient-.+\.key$/.test(f))
    .map((f) => keys.demoRecipient(f.slice('recipient-'.length, -'.key'.length)));
  // The receiver kit de-duplicates after persisting; the receiver underneath remembers nothing.
  const receiver = await createReceiver({ recipientKeys: recipients, trustedGatewayKeys: keys.trustedGatewayKeys(), replayStore: { has: () => false, add: () => {} } });
  return (body) => {
    let r = receiver.open(body);
    if (!r.ok && /signer|unknown key|not trusted/i.test(r.reason)) {
      keys.reload();
      for (const k of keys.trustedGatewayKeys()) receiver.trustGatewayKey(k);
      r = receiver.open(body);
    }
    return r.ok ? { ok: true, meta: r.meta, payload: r.payload } : { ok: false, status: r.status, reason: r.reason };
  };
}
