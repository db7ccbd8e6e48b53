/**
 * The gateway's logger: pino, JSON lines on stdout (for journald, syslog or a collector), or
 * readable lines through pino-pretty when stdout is a terminal (in this process: worker-thread
 * transports cannot run inside the single binary). Redaction paths are compiled once
 * at start (pino's fast-redact); they are a second line of defence — the first is that
 * nothing PHI-bearing is ever passed to a log call. Errors reach logs only through
 * describeError(), which keeps the class, code and our own message, never payloads.
 */
import { pino, destination as pinoDestination, type Logger, type DestinationStream } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.resource',
  '*.payload',
  '*.body',
  '*.patient',
  '*.name',
  '*.identifier',
  '*.telecom',
  '*.address',
  '*.birthDate',
  '*.key',
  '*.privateKey',
  '*.passphrase',
];

/** The levels --log-level accepts, most to least verbose, and "silent". */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export interface LoggerOptions {
  level?: string;
  destination?: NodeJS.WritableStream;
  name?: string;
  /** Readable lines (pino-pretty) instead of JSON: for a terminal. */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.pretty
    ? pinoPretty({ destination: (opts.destination ?? process.stdout) as never, colorize: opts.destination ? false : undefined, translateTime: 'SYS:standard', ignore: 'pid,hostname', sync: true })
    : opts.destination;
  return pino(
    {
      name: opts.name ?? 'darwaza',
      level: opts.level ?? process.env.DARWAZA_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (destination as DestinationStream | undefined) ?? pinoDestination({ sync: false }),
  );
}

/** A loggable description of an error without its payload-bearing parts. */
export function describeError(err: unknown): { type: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    // Our own errors (OperationOutcomeError, ConfigError, PolicyError…) are written to be PHI-free.
    const ours = /Error$/.test(err.name) && err.name !== 'Error' && err.name !== 'SyntaxError' && err.name !== 'TypeError';
    return { type: err.name, ...(code ? { code } : {}), message: ours ? err.message.slice(0, 500) : '(message withheld)' };
  }
  return { type: typeof err, message: '(non-error thrown)' };
}

/** A logger that drops everything (tests, CLI commands). */
export const silentLogger: Logger = pino({ level: 'silent' });
