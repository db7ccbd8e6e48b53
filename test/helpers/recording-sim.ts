/**
 * The upstream simulator started in the test process, acting as the national service
 * (it verifies and opens each envelope with the demo recipient keys of a certs folder,
 * like `darwaza upstream-sim --certs`) and also keeping what it opened, so a test can
 * look at the data that actually left the gateway (labels, de-identification).
 */
import { readdirSync } from 'node:fs';
import { createReceiver, loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { startSimulator, type Simulator } from '../../src/sim/index.js';

export interface Opened {
  /** The envelope's metadata (id, destination, purpose, policySha256, …). */
  meta: Record<string, unknown>;
  /** The payload as text (FHIR JSON or HL7 v2). */
  payload: string;
  sealed: boolean;
}

export interface RecordingSimulator {
  sim: Simulator;
  /** Opened payloads by Idempotency-Key (the gateway's message id), first delivery only. */
  opened: Map<string, Opened>;
  stop(): Promise<void>;
}

export async function startRecordingSimulator(certsDir: string, port: number): Promise<RecordingSimulator> {
  const keys = await loadOrCreateKeyStore(certsDir);
  const recipientKeys = readdirSync(certsDir)
    .filter((f) => /^recipient-.+\.key$/.test(f))
    .map((f) => keys.demoRecipient(f.slice('recipient-'.length, -'.key'.length)));
  const receiver = await createReceiver({ recipientKeys, trustedGatewayKeys: keys.trustedGatewayKeys() });
  const opened = new Map<string, Opened>();
  const sim = await startSimulator({
    host: '127.0.0.1',
    port,
    openEnvelope: (body, headers) => {
      const r = receiver.open(body);
      if (!r.ok) return { ok: false, status: r.status, reason: r.reason };
      const key = String(headers['idempotency-key'] ?? '');
      if (!opened.has(key)) {
        opened.set(key, { meta: r.meta as unknown as Record<string, unknown>, payload: Buffer.from(r.payload).toString('utf8'), sealed: r.sealed });
      }
      return { ok: true };
    },
  });
  return { sim, opened, stop: () => sim.stop() };
}
