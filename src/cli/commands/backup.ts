/**
 * `darwaza backup FILE` — one encrypted file holding a consistent snapshot of the database
 * (taken with SQLite's online backup API while the gateway runs), the keys and the config.
 */
import { resolve } from 'node:path';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { PASSPHRASE_FLAGS, PASSPHRASE_USAGE, readPassphrase } from './passphrase.js';
import { BackupError, takeBackup } from '../../ops/index.js';

export const command: Command = {
  name: 'backup',
  summary: 'write the database, keys and config into one passphrase-encrypted file (safe while running)',
  usage: `Usage: darwaza backup FILE [--config FILE] [--data-dir DIR] [--certs-dir DIR] [--passphrase-file FILE]

Writes FILE (new, mode 0600): a consistent snapshot of the database, taken with SQLite's
online backup API (the gateway may keep running and accepting messages), every file of
the certs folder (signing, patient-token and key-encryption keys, certificates) and the
config, encrypted under a key derived from the passphrase with Argon2id. Format and what a
backup means for crypto-shredding: docs/operating.md.

Options:
${pathUsage('config', 'data-dir', 'certs-dir')}
${PASSPHRASE_USAGE}
Exit: 0 written, 2 usage, 4 runtime error.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, { ...PATH_FLAGS, ...PASSPHRASE_FLAGS });
    if (positionals.length !== 1) throw new UsageError('backup needs one FILE');
    const passphrase = readPassphrase(values, io);
    const paths = resolvePaths(io, values);
    const out = resolve(io.cwd, positionals[0]!);
    try {
      const r = await takeBackup(out, {
        dataDir: paths.dataDir(),
        certsDir: paths.certsDir(),
        configFile: paths.configFile,
        kek: paths.config()?.keys.kek ?? 'file',
        passphrase,
      });
      io.out(`Backup written to ${out}: ${r.files.length} files (${r.files.filter((f) => f.name.startsWith('certs/')).length} from the certs folder), ${r.bytes.toLocaleString('en')} bytes, schema ${r.header.schemaVersion}.`);
      if (r.header.kek !== 'file') io.out(`Note: the KEK comes from ${r.header.kek} and is not in the backup; keep it safe separately.`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof BackupError) {
        io.err(`darwaza backup: ${err.message}`);
        return EXIT.failed;
      }
      throw err;
    }
  },
};
