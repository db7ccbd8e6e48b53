/**
 * `darwaza patient erase --patient ID --reason TEXT` — a patient's erasure on the appliance
 * (for the auditor or the administrator, who run it on the appliance with its keys): queued
 * and dead payloads, stored facts and per-patient keys go; one audit entry records it; the
 * answer lists what could not be erased and why. Prints tokens, never the identifier.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { openDatabase, databaseFile } from '../../store/index.js';
import { AuditLog, sourcesSeen } from '../../audit/index.js';
import { createTokenizer, getSodium, kekSourceFromConfig, openAtRestCipher, readTokenKey, TOKEN_KEY_FILE } from '../../crypto/index.js';
import { ConsentRegistry, DEFAULT_SOURCE, tokensForIds } from '../../consent/index.js';
import { erasePatient } from '../../ops/index.js';
import { patientIdForms } from './audit.js';

export const command: Command = {
  name: 'patient',
  summary: "erase what the appliance holds about one patient (auditor, administrator)",
  usage: `Usage: darwaza patient erase --patient ID --reason TEXT [--source SYSTEM] [--actor NAME] [--json]

Erases what this appliance holds about one patient: queued, retrying and dead payloads are
withdrawn (their payload destroyed), stored facts (remembered birth date, bound local ids) are
deleted, per-patient keys are shredded, and the WAL is truncated. One audit entry records it,
naming the patient by token only. It then lists what it could not erase and why: the audit log
(tokens only), data already delivered upstream (per destination), consent records, backups.

The patient is named as the privacy officer knows them: a CNIC, system|value, Patient/ID or a
local id (--source names the sending system for a local id; otherwise every source is tried).

Options:
${pathUsage('config', 'data-dir', 'certs-dir')}
  --patient ID           the patient
  --reason TEXT          why (the request's reference, no PHI): recorded in the audit entry
  --actor NAME           who asked (default: the operating-system user running this)
  --json                 the result as JSON
Exit: 0 erased, 2 usage, 3 bad input, 4 runtime error.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ...PATH_FLAGS,
      patient: { type: 'string' },
      reason: { type: 'string' },
      source: { type: 'string' },
      actor: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals[0] !== 'erase') throw new UsageError('patient needs a subcommand: erase');
    if (!values.patient) throw new UsageError('erase needs --patient ID');
    if (!values.reason) throw new UsageError('erase needs --reason TEXT (the request reference, no PHI)');
    const paths = resolvePaths(io, values);
    const file = databaseFile(paths.sqliteDataDir('patient'));
    if (!existsSync(file)) {
      io.err(`darwaza patient: no database at ${file}`);
      return EXIT.badInput;
    }
    await getSodium();
    const tokenize = createTokenizer(readTokenKey(join(paths.certsDir(), TOKEN_KEY_FILE), { privateOnly: false }));
    const db = openDatabase(file);
    try {
      const sources = values.source
        ? [values.source]
        : [DEFAULT_SOURCE, ...sourcesSeen(db)];
      const forms = patientIdForms(values.patient);
      const tokens = [...new Set([forms.map(tokenize), ...sources.map((s) => tokensForIds(forms, tokenize, s))].flat())];
      const cipher = await openAtRestCipher(db, { kek: kekSourceFromConfig(paths.config()?.keys.kek ?? 'file', { certsDir: paths.certsDir(), env: io.env }) });
      const actor = values.actor ?? `cli:${userInfo().username}`;
      const consents = ConsentRegistry.open(db, { tokenize, cipher });
      const r = await erasePatient(db, { tokens, cipher, consents, audit: AuditLog.open(db), actor, reason: values.reason });
      consents.close();
      cipher.close();
      if (values.json) {
        io.out(JSON.stringify(r, null, 2));
        return EXIT.ok;
      }
      io.out(`Patient token ${r.patientToken}: ${r.queueRowsWithdrawn} queued or dead payloads withdrawn, ${r.storedFactsDeleted} stored facts deleted, ${r.keyScopesShredded} patient key scopes shredded. Audited.`);
      io.out('Not erased:');
      for (const n of r.notErased) io.out(`  - ${n.what}: ${n.why}`);
      return EXIT.ok;
    } finally {
      db.close();
    }
  },
};
