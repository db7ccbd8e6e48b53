/**
 * Runs a CLI command in-process and keeps what it prints: the CliIo a test hands to
 * `command.run(args, io)`, with stdout and stderr lines collected.
 */
import type { CliIo, Command } from '../../src/cli/command.js';

export interface CapturedIo {
  io: CliIo;
  /** Lines printed to stdout. */
  out: string[];
  /** Lines printed to stderr. */
  err: string[];
  /** Every line, stdout and stderr, in the order printed. */
  all: string[];
  /** stdout, a newline, then stderr (all of a run's text, for "no PHI anywhere" checks). */
  text(): string;
}

export interface CaptureOptions {
  /** The command's working folder (default: this process's). */
  cwd?: string;
  /** What readStdin returns (default: empty). */
  stdin?: string;
  env?: NodeJS.ProcessEnv;
}

export function captureIo(options: CaptureOptions = {}): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  const all: string[] = [];
  const io: CliIo = {
    out: (l) => void (out.push(l), all.push(l)),
    err: (l) => void (err.push(l), all.push(l)),
    isTTY: false,
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? {},
    readStdin: async () => options.stdin ?? '',
  };
  return { io, out, err, all, text: () => out.join('\n') + '\n' + err.join('\n') };
}

/** Runs `command` with `args` and returns its exit code with what it printed. */
export async function runCommand(command: Command, args: string[], options: CaptureOptions = {}) {
  const c = captureIo(options);
  const code = await command.run(args, c.io);
  return { code, ...c };
}
