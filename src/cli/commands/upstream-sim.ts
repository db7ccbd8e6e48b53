/**
 * `darwaza upstream-sim` — runs the reference national-service receiver until
 * SIGINT/SIGTERM. See src/sim.
 */
import { resolve } from 'node:path';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { DEFAULT_SIM_HOST, DEFAULT_SIM_PORT, startSimulator } from '../../sim/index.js';
import { envelopeOpenerFromCerts } from '../../sim/keys.js';
import { rethrowIfDenied } from '../access.js';

function hostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new UsageError(`--listen: "${value}" is not HOST:PORT`);
  return { host: m[1] ?? (m[2] || DEFAULT_SIM_HOST), port };
}

function rate(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n >= 0 && n <= 1) || value.trim() === '') throw new UsageError(`--${flag}: "${value}" must be a number from 0 to 1`);
  return n;
}

export const command: Command = {
  name: 'upstream-sim',
  summary: 'run the reference upstream receiver (for demos and tests)',
  usage: `Usage: darwaza upstream-sim [--listen HOST:PORT] [--fail-rate F] [--delay-ms N]
                            [--drop-rate F] [--data-dir DIR] [--certs DIR]

Runs a reference national-service receiver until SIGINT or SIGTERM. It records every
delivery once per Idempotency-Key and answers:
  GET  /_sim/received   {"count": n, "ids": [...]}  distinct keys accepted, in order
  GET  /_sim/stats      totals (posts incl. duplicates, bytes, rejected, failed, dropped)
  POST /_sim/control    {"failRate","failStatus","retryAfterS","delayMs","dropRate",
                         "dropAfterAcceptRate","down","downForMs","status"}
  POST /_sim/reset      forget what was received

Options:
  --listen HOST:PORT   where to listen (default ${DEFAULT_SIM_HOST}:${DEFAULT_SIM_PORT})
  --fail-rate F        answer 503 to this fraction of deliveries (0..1)
  --delay-ms N         wait N ms before answering
  --drop-rate F        close the connection without answering for this fraction
  --data-dir DIR       remember accepted keys in DIR/received.log across restarts
  --certs DIR          act as the national service: verify each envelope's signature
                       against the gateway keys in DIR and open it with the demo
                       recipient keys there; refuse altered, replayed or unknown-signer
                       envelopes (without it, any JSON body is accepted)`,
  async run(args, io) {
    const { values } = parseFlags(
      args,
      {
        listen: { type: 'string' },
        'fail-rate': { type: 'string' },
        'delay-ms': { type: 'string' },
        'drop-rate': { type: 'string' },
        'data-dir': { type: 'string' },
        certs: { type: 'string' },
      },
      false,
    );
    const { host, port } = values.listen ? hostPort(values.listen) : { host: DEFAULT_SIM_HOST, port: DEFAULT_SIM_PORT };
    const delay = values['delay-ms'] === undefined ? undefined : Number(values['delay-ms']);
    if (delay !== undefined && !(Number.isFinite(delay) && delay >= 0)) {
      throw new UsageError(`--delay-ms: "${values['delay-ms']}" must be a non-negative number`);
    }
    let openEnvelope;
    if (values.certs) {
      const dir = resolve(io.cwd, values.certs);
      try {
        openEnvelope = await envelopeOpenerFromCerts(dir);
      } catch (err) {
        rethrowIfDenied(err);
        io.err(`darwaza upstream-sim: cannot read the keys in ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).name})`);
        return EXIT.badInput;
      }
    }
    let sim;
    try {
      sim = await startSimulator({
        host,
        port,
        failRate: rate('fail-rate', values['fail-rate']),
        dropRate: rate('drop-rate', values['drop-rate']),
        delayMs: delay,
        dataDir: values['data-dir'] ? resolve(io.cwd, values['data-dir']) : undefined,
        openEnvelope,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      io.err(`darwaza upstream-sim: cannot listen on ${host}:${port} (${e.code ?? e.name})`);
      return EXIT.runtime;
    }
    io.out(`upstream-sim listening on ${sim.url}`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        sim.stop().then(done, done);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return EXIT.ok;
  },
};
