/**
 * `darwaza restore FILE --data DIR` — decrypts a backup into empty folders after checking it:
 * the passphrase, every file's hash, the database's pages, the audit log and the KEK.
 */
import { dirname, join, resolve } from 'node:path';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { PASSPHRASE_FLAGS, PASSPHRASE_USAGE, readPassphrase } from './passphrase.js';
import { BackupError, restoreBackup } from '../../ops/index.js';

export const command: Command = {
  name: 'restore',
  summary: 'restore a backup into an empty data folder, after checking its integrity and audit log',
  usage: `Usage: darwaza restore FILE --data DIR [--certs-dir DIR] [--config-out FILE] [--passphrase-file FILE]

Decrypts FILE into a staging folder and checks it before anything is put in place: a wrong
passphrase or an altered file is refused, then SQLite's integrity_check runs on the database,
the audit log is verified against the restored signing keys, and the restored key-encryption
key must open the database. Only then are the database (DIR/darwaza.db) and the keys
(--certs-dir, default: the certs folder beside DIR) moved into place. Both must be empty.

Options:
  --data DIR             the data folder to restore into (required; must hold no database)
  --certs-dir DIR        where the keys and certificates go (default: DIR/../certs; must be empty)
  --config-out FILE      also write the config kept in the backup to FILE
${PASSPHRASE_USAGE}
Exit: 0 restored, 1 refused (wrong passphrase, damaged, audit log does not verify), 2 usage.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      data: { type: 'string' },
      'data-dir': { type: 'string' },
      'certs-dir': { type: 'string' },
      'config-out': { type: 'string' },
      ...PASSPHRASE_FLAGS,
    });
    if (positionals.length !== 1) throw new UsageError('restore needs one FILE');
    const data = values.data ?? values['data-dir'];
    if (!data) throw new UsageError('restore needs --data DIR (an empty folder)');
    const passphrase = readPassphrase(values, io);
    const dataDir = resolve(io.cwd, data);
    const certsDir = values['certs-dir'] ? resolve(io.cwd, values['certs-dir']) : join(dirname(dataDir), 'certs');
    try {
      const r = await restoreBackup(resolve(io.cwd, positionals[0]!), {
        dataDir,
        certsDir,
        configOut: values['config-out'] ? resolve(io.cwd, values['config-out']) : undefined,
        passphrase,
        env: io.env,
      });
      io.out(`Restored ${r.files} files: database into ${dataDir}, keys into ${certsDir}.`);
      io.out(`Checked: integrity_check ok; audit log verified (${r.auditEntries} entries); ${r.messages} messages held.`);
      for (const n of r.notes) io.out(`Note: ${n}`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof BackupError) {
        io.err(`darwaza restore: ${err.message}`);
        return EXIT.failed;
      }
      throw err;
    }
  },
};
