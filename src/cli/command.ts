/**
 * The shape of one CLI command. Each command lives in src/cli/commands/<name>.ts
 * and is registered in src/cli/main.ts. Commands print through `io` (so tests can
 * capture output) and return an exit code; they never call process.exit themselves.
 *
 * Exit codes (meaningful, documented in README):
 *   0 ok · 1 the check/operation failed (verify failed, test failed) ·
 *   2 usage error (bad flag, missing argument) · 3 bad input file/config ·
 *   4 runtime error (store unavailable, port in use) ·
 *   5 permission denied (the gateway's folders belong to another user; see ./access.ts)
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where the CLI looks when neither --config nor --data-dir says (an appliance folder made by init). */
export const DEFAULT_DATA_DIR = './data';
/** The patient-token key that `init` makes (certs/token.key, 32 bytes base64). */
export const DEFAULT_TOKEN_KEY_FILE = 'certs/token.key';

export const EXIT = { ok: 0, failed: 1, usage: 2, badInput: 3, runtime: 4, denied: 5 } as const;

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** True when stdout is a terminal (show progress). */
  isTTY: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Reads all of stdin (for `-` file arguments). */
  readStdin: () => Promise<string>;
}

export interface Command {
  name: string;
  /** One line for `darwaza help`. */
  summary: string;
  /** Full text for `darwaza <name> --help`. */
  usage: string;
  run: (args: string[], io: CliIo) => Promise<number>;
}

/** A usage mistake: printed with the command's usage, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** node:util parseArgs with strict checking, turning its errors into UsageError. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Progress on a TTY ("import 4,000/10,000"); silent otherwise. */
export function progress(io: CliIo, label: string) {
  let last = 0;
  return {
    update(done: number, total?: number) {
      if (!io.isTTY) return;
      const now = Date.now();
      if (now - last < 100 && done !== total) return;
      last = now;
      process.stdout.write(`\r${label} ${done.toLocaleString('en')}${total ? `/${total.toLocaleString('en')}` : ''}`);
    },
    done() {
      if (io.isTTY) process.stdout.write('\n');
    },
  };
}
