/**
 * The gateway's logger: pino, JSON lines on stdout. Redaction paths are compiled once
 * at start (pino's fast-redact); they are a second line of defence — the first is that
 * nothing PHI-bearing is ever passed to a log call. Errors reach logs only through
 * describeError(), which keeps the class, code and our own message, never payloads.
 */
import { pino, destination as pinoDestination, type Logger, type DestinationStream } from 'pino';

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

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream; name?: string } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'darwaza',
      level: opts.level ?? process.env.DARWAZA_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (opts.destination as DestinationStream | undefined) ?? pinoDestination({ sync: false }),
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
