/**
 * The backup passphrase: from --passphrase-file or DARWAZA_BACKUP_PASSPHRASE, never from
 * argv (other users can read a process's arguments in /proc).
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError, type CliIo } from '../command.js';

export const BACKUP_PASSPHRASE_ENV = 'DARWAZA_BACKUP_PASSPHRASE';

export const PASSPHRASE_FLAGS = {
  'passphrase-file': { type: 'string' },
  passphrase: { type: 'string' },
} as const;

export const PASSPHRASE_USAGE = `  --passphrase-file FILE the passphrase, first line of FILE (mode 0600)
                         (or the environment variable ${BACKUP_PASSPHRASE_ENV}; never on the command line)`;

export function readPassphrase(values: { 'passphrase-file'?: string; passphrase?: string }, io: CliIo): string {
  if (values.passphrase !== undefined) {
    throw new UsageError(`a passphrase on the command line is visible to every user of this machine: use --passphrase-file FILE or ${BACKUP_PASSPHRASE_ENV}`);
  }
  if (values['passphrase-file']) {
    const file = resolve(io.cwd, values['passphrase-file']);
    let text: string;
    try {
      if (statSync(file).mode & 0o077) io.err(`warning: ${file} is readable by other users; chmod 600 it`);
      text = readFileSync(file, 'utf8');
    } catch {
      throw new UsageError(`--passphrase-file: cannot read ${values['passphrase-file']}`);
    }
    return text.split(/\r?\n/)[0]!;
  }
  const env = io.env[BACKUP_PASSPHRASE_ENV];
  if (env) return env;
  throw new UsageError(`a passphrase is required: --passphrase-file FILE or the environment variable ${BACKUP_PASSPHRASE_ENV}`);
}
