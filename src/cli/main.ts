/**
 * `darwaza` — the one entry point (also inside the single binary).
 * Parses the command name, hands the rest to the command, turns what it returns
 * into an exit code. Usage errors print the command's usage and exit 2.
 */
import { createRequire } from 'node:module';
import { EXIT, UsageError, type CliIo, type Command } from './command.js';
import { darwazaVersion } from '../embedded/index.js';
import { setNativeBinding, SCHEMA_VERSION } from '../store/index.js';
import { commands } from './registry.js';
import { accessDeniedFrom } from './access.js';

const require = createRequire(import.meta.url);

/** Inside the single binary, better-sqlite3's addon is an SEA asset: load it once. */
function loadEmbeddedAddon(): void {
  let sea: { isSea(): boolean; getAsset(name: string): ArrayBuffer } | undefined;
  try {
    sea = require('node:sea');
  } catch {
    return;
  }
  if (!sea?.isSea()) return;
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const os = require('node:os') as typeof import('node:os');
  const bytes = Buffer.from(sea.getAsset('better_sqlite3.node'));
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  // A noexec cache dir cannot load the addon: DARWAZA_CACHE_DIR chooses another.
  const dir = process.env.DARWAZA_CACHE_DIR ?? path.join(os.homedir() || os.tmpdir(), '.cache', 'darwaza');
  const file = path.join(dir, `better_sqlite3-${hash}.node`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, bytes, { mode: 0o500 });
    fs.renameSync(tmp, file);
  }
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file);
  setNativeBinding(mod.exports);
}

export function defaultIo(): CliIo {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    isTTY: Boolean(process.stdout.isTTY),
    cwd: process.cwd(),
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

export function helpText(list: readonly Command[] = commands): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    `darwaza ${darwazaVersion()} — privacy-first edge gateway for hospitals`,
    '',
    'Usage: darwaza <command> [options]     darwaza <command> --help',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Exit codes: 0 ok, 1 check failed, 2 usage error, 3 bad input file or config, 4 runtime error, 5 permission denied.',
  ].join('\n');
}

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const cmd = topic ? commands.find((c) => c.name === topic) : undefined;
    if (topic && !cmd) {
      io.err(`darwaza: no command "${topic}". Run \`darwaza help\`.`);
      return EXIT.usage;
    }
    io.out(cmd ? cmd.usage : helpText());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    // The release on the first line (scripts read it), then the database schema it reads and writes.
    io.out(darwazaVersion());
    io.out(`schema ${SCHEMA_VERSION}`);
    return EXIT.ok;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    io.err(`darwaza: no command "${name}". Run \`darwaza help\` for the list.`);
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(cmd.usage);
    return EXIT.ok;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`darwaza ${name}: ${err.message}`);
      io.err('');
      io.err(cmd.usage);
      return EXIT.usage;
    }
    const denied = accessDeniedFrom(err);
    if (denied) {
      io.err(`darwaza ${name}: ${denied.message}`);
      return EXIT.denied;
    }
    const e = err as Error;
    // Our errors carry plain, PHI-free messages; anything else is summarised, never dumped.
    if (e && /Error$/.test(e.name) && e.name !== 'Error' && e.name !== 'TypeError' && e.name !== 'SyntaxError') {
      io.err(`darwaza ${name}: ${e.message}`);
      return e.name === 'ConfigError' || e.name === 'PolicyError' ? EXIT.badInput : EXIT.runtime;
    }
    io.err(`darwaza ${name}: unexpected ${e?.name ?? 'error'}${(e as NodeJS.ErrnoException)?.code ? ` (${(e as NodeJS.ErrnoException).code})` : ''}: ${e?.message?.slice(0, 200) ?? ''}`);
    return EXIT.runtime;
  }
}

// Run when this file is the program (node dist/darwaza.cjs, the single binary, tsx src/cli/main.ts).
const isEntry = (() => {
  try {
    if (require('node:sea').isSea()) return true;
  } catch {
    /* not in a single binary */
  }
  const entry = process.argv[1] ?? '';
  return /(?:darwaza(?:\.c?js)?|main\.ts)$/.test(entry);
})();

if (isEntry) {
  loadEmbeddedAddon();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`darwaza: fatal: ${(err as Error)?.name ?? 'error'}\n`);
      process.exitCode = EXIT.runtime;
    },
  );
}
