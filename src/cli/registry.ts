/** Every CLI command, in the order `darwaza help` lists them. */
import type { Command } from './command.js';
import { command as init } from './commands/init.js';
import { command as start } from './commands/start.js';
import { command as upstreamSim } from './commands/upstream-sim.js';
import { makeQueueCommand } from './commands/queue.js';
import { command as policy } from './commands/policy.js';
import { makeConsentCommand } from './commands/consent.js';
import { command as sanitize } from './commands/sanitize.js';
import { command as audit } from './commands/audit.js';
import { command as certs } from './commands/certs.js';
import { command as keys } from './commands/keys.js';
import { command as envelope } from './commands/envelope.js';
import { command as tokens } from './commands/tokens.js';
import { command as link } from './commands/link.js';
import { command as doctor } from './commands/doctor.js';
import { command as backup } from './commands/backup.js';
import { command as restore } from './commands/restore.js';
import { command as store } from './commands/store.js';
import { command as service } from './commands/service.js';
import { command as patient } from './commands/patient.js';
import { AuditLog } from '../audit/index.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openAtRestCipher, kekSourceFromConfig } from '../crypto/index.js';

const queue = makeQueueCommand({
  // Operator actions (retry, purge) go into the same tamper-evident log as the gateway's.
  openAudit: (db) => AuditLog.open(db),
});

// Consents imported by hand are stored like the gateway stores them: encrypted under the
// appliance's KEK (certs/kek.key or DARWAZA_KEK), indexed by the same patient tokens.
const consent = makeConsentCommand({
  openCipher: async (db, io, certsDir) => {
    const fromFile = existsSync(join(certsDir, 'kek.key'));
    if (!fromFile && !io.env.DARWAZA_KEK) return undefined;
    return openAtRestCipher(db, { kek: kekSourceFromConfig(fromFile ? 'file' : 'env', { certsDir, env: io.env }) });
  },
});

export const commands: readonly Command[] = [init, start, upstreamSim, queue, policy, consent, sanitize, audit, certs, keys, envelope, tokens, link, doctor, backup, restore, store, service, patient];
