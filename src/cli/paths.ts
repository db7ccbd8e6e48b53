/**
 * Where the CLI finds the gateway's config, data and keys — one rule for every command:
 *
 *   --data-dir DIR / --certs-dir DIR   that folder (relative to the current folder)
 *   else --config FILE                 the config's dataDir / certsDir
 *   else ./gateway.config.json         the same, when that file exists
 *   else ./data and ./certs
 *
 * The config is read only when a folder is not given outright, so `--data-dir` works
 * beside a config file that does not load.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CliIo } from './command.js';
import { ConfigError, loadConfig, type GatewayConfig } from '../config/index.js';
import { ensureKeySet, type KeySetOptions } from '../crypto/index.js';
import { assertFolderReadable } from './access.js';

export const DEFAULT_CONFIG_FILE = 'gateway.config.json';

/** The parseFlags options for the three location flags. */
export const PATH_FLAGS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'certs-dir': { type: 'string' },
} as const;

/** The --help lines for the location flags (each command lists the ones it takes). */
export const PATH_USAGE = {
  config: `  --config FILE          gateway configuration (default: ./${DEFAULT_CONFIG_FILE} when it exists)`,
  'data-dir': `  --data-dir DIR         the store's folder (default: the config's dataDir, else ./data)`,
  'certs-dir': `  --certs-dir DIR        the key and certificate folder (default: the config's certsDir, else ./certs)`,
} as const;

/** The usage block for the given location flags. */
export function pathUsage(...flags: Array<keyof typeof PATH_USAGE>): string {
  return flags.map((f) => PATH_USAGE[f]).join('\n');
}

export interface PathValues {
  config?: string;
  'data-dir'?: string;
  'certs-dir'?: string;
}

export interface CliPaths {
  /** The config file in force, if any (--config, or ./gateway.config.json when it exists). */
  readonly configFile: string | undefined;
  /** The loaded config (read on first use; undefined when there is no config file). */
  config(): GatewayConfig | undefined;
  dataDir(): string;
  /**
   * dataDir(), for a command that reads the state in the SQLite file: refused (ConfigError) when the
   * config keeps the state on PostgreSQL, where the node's own file holds none of it.
   */
  sqliteDataDir(command: string): string;
  certsDir(): string;
}

export function resolvePaths(io: Pick<CliIo, 'cwd'>, values: PathValues): CliPaths {
  const implicit = join(io.cwd, DEFAULT_CONFIG_FILE);
  const configFile = values.config ? resolve(io.cwd, values.config) : existsSync(implicit) ? implicit : undefined;
  let loaded: GatewayConfig | undefined;
  const config = () => {
    if (!configFile) return undefined;
    if (!loaded) {
      if (!existsSync(configFile)) throw new ConfigError([`${configFile}: the config file does not exist`]);
      loaded = loadConfig(configFile);
    }
    return loaded;
  };
  return {
    configFile,
    config,
    // A folder another user owns is named as such, not reported as missing.
    dataDir: () => readable(values['data-dir'] ? resolve(io.cwd, values['data-dir']) : config()?.dataDir ?? resolve(io.cwd, 'data')),
    sqliteDataDir(command) {
      if (!values['data-dir'] && config()?.store.kind === 'postgres') {
        throw new ConfigError([
          `${configFile}: store.kind is "postgres": the queue, consents and audit log live on PostgreSQL, and \`darwaza ${command}\` reads the SQLite store only. Use the admin API (/status, /messages) or \`darwaza audit … --store URL\`; see docs/ha.md`,
        ]);
      }
      return this.dataDir();
    },
    certsDir: () => readable(values['certs-dir'] ? resolve(io.cwd, values['certs-dir']) : config()?.certsDir ?? resolve(io.cwd, 'certs')),
  };
}

function readable(dir: string): string {
  assertFolderReadable(dir);
  return dir;
}

/** The key set a config needs (without a config: the default KEK file and no demo recipients). */
export function keySetOptions(config: GatewayConfig | undefined): KeySetOptions {
  return {
    kekFile: (config?.keys.kek ?? 'file') === 'file',
    demoRecipients: config ? config.destinations.filter((d) => !d.recipientPublicKey).map((d) => d.name) : [],
  };
}

/** The whole key set in the resolved certs folder, as the resolved config needs it. */
export async function ensureKeys(paths: CliPaths) {
  return ensureKeySet(paths.certsDir(), keySetOptions(paths.config()));
}
