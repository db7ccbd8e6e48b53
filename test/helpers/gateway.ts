/**
 * The in-process gateway's test setup: a temp folder with certs, data and its own copy of
 * the repository's policy pack (so a test may change the pack), free ports, and a logger
 * whose lines a test can read.
 */
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { createLogger } from '../../src/log/index.js';
import { testConfig } from './config.js';
import { freePort } from './net.js';
import { copyPolicies } from './pack.js';

export const FAST_RETRY = { maxAttempts: 50, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 3_600_000 };

/** Log lines go to an array (and nowhere else), so a test can read what the gateway said. */
export function memoryLogger(level = 'info') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level, destination });
  return { logger, lines };
}

export interface GatewaySetup {
  dir: string;
  simPort: number;
  /** The copied pack's policy file (policies/pk/pk.policy.yaml in dir). */
  policyFile: string;
  config: ReturnType<typeof testConfig>;
}

/** A temp folder with certs, data and a copy of the repository's policy pack; free ports. */
export async function setupGateway(t: { testdir(): string }, patch: (c: any) => void = () => {}): Promise<GatewaySetup> {
  const dir = t.testdir();
  const simPort = await freePort();
  const policyDir = copyPolicies(dir);
  const config = testConfig((c) => {
    c.dataDir = join(dir, 'data');
    c.certsDir = join(dir, 'certs');
    c.listen = { lan: '127.0.0.1:0', admin: '127.0.0.1:0', mllp: '127.0.0.1:0' };
    c.simulator = { embedded: false, listen: `127.0.0.1:${simPort}` };
    c.dispatcher = { pollMs: 50, breakerFailures: 100, breakerCooldownMs: 200 };
    c.policy.path = policyDir;
    for (const d of c.destinations) {
      d.url = `http://127.0.0.1:${simPort}/ingest`;
      d.retry = FAST_RETRY;
    }
    patch(c);
  }, dir);
  // What `darwaza init` makes: the key-encryption key of the at-rest cipher.
  (await loadOrCreateKeyStore(config.certsDir)).ensureKekFile();
  return { dir, simPort, policyFile: join(policyDir, 'pk.policy.yaml'), config };
}
