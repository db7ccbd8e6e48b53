/**
 * `darwaza start` — runs the gateway until SIGINT/SIGTERM; SIGHUP reloads the policy.
 * Without a config file it uses the embedded demo defaults and makes what is missing
 * (keys, policy pack) as `init` would, so `npm start` works on a fresh clone.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { DEFAULT_CONFIG_FILE, PATH_FLAGS, pathUsage, resolvePaths, keySetOptions } from '../paths.js';
import { describeKeyFile, ensureKeySet } from '../../crypto/index.js';
import { parseHostPort, ConfigError, type GatewayConfig } from '../../config/index.js';
import { startGateway } from '../../gateway/index.js';
import { createLogger, describeError, LOG_LEVELS } from '../../log/index.js';
import { initFolder } from './init.js';

export const command: Command = {
  name: 'start',
  summary: 'run the gateway (LAN API, MLLP, admin, dispatcher)',
  usage: `Usage: darwaza start [--config FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT]
                     [--mllp-listen HOST:PORT] [--data-dir DIR] [--certs-dir DIR] [--no-simulator]
                     [--log-level LEVEL]

Runs the gateway until SIGINT or SIGTERM (a clean stop: listeners close, deliveries in
flight finish, a signed audit tree head is written). SIGHUP reloads the policy files,
the signing keys (after "darwaza keys rotate") and the LAN TLS certificates and CRL.
Key material the config needs and that is missing (signing, patient-token and
key-encryption keys, demo recipient keys) is made first and listed on stderr.

Options:
  --config FILE          gateway configuration (default: ./${DEFAULT_CONFIG_FILE}; when it does
                         not exist, the folder is initialised with the demo defaults first)
${pathUsage('data-dir', 'certs-dir')}
  --listen HOST:PORT     LAN API listener (overrides listen.lan)
  --admin-listen H:P     admin listener: /healthz /readyz /metrics (overrides listen.admin)
  --mllp-listen H:P      HL7 v2 MLLP listener (overrides listen.mllp)
  --no-simulator         do not run the demo upstream simulator in this process
                         (use when \`darwaza upstream-sim\` runs separately)
  --log-level LEVEL      ${LOG_LEVELS.join(', ')} (default: $DARWAZA_LOG_LEVEL, else info).
                         Logs are JSON lines on stdout, or readable lines when stdout is a terminal.`,
  async run(args, io) {
    const { values } = parseFlags(
      args,
      {
        ...PATH_FLAGS,
        listen: { type: 'string' },
        'admin-listen': { type: 'string' },
        'mllp-listen': { type: 'string' },
        'no-simulator': { type: 'boolean' },
        'log-level': { type: 'string' },
      },
      false,
    );
    const level = values['log-level'];
    if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level: one of ${LOG_LEVELS.join(', ')}`);
    let paths = resolvePaths(io, values);
    if (!paths.configFile) {
      const r = await initFolder(io.cwd);
      io.err(`darwaza start: no ${DEFAULT_CONFIG_FILE} here; initialised ${r.dir} with the demo defaults`);
      paths = resolvePaths(io, values);
    }
    let config: GatewayConfig = paths.config()!;
    const overrideHp = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      try {
        return parseHostPort(v);
      } catch {
        throw new ConfigError([`--${flag}: "${v}" is not HOST:PORT`]);
      }
    };
    config = {
      ...config,
      dataDir: paths.dataDir(),
      certsDir: paths.certsDir(),
      listen: {
        lan: overrideHp('listen', values.listen) ?? config.listen.lan,
        admin: overrideHp('admin-listen', values['admin-listen']) ?? config.listen.admin,
        mllp: overrideHp('mllp-listen', values['mllp-listen']) ?? config.listen.mllp,
      },
    };
    // First run beside an existing config: what init makes (policy pack, data folder, keys).
    // Then, always, the whole key set, whatever part of it another command (keys, consent) made.
    if (!existsSync(join(config.certsDir, 'signing-keys.json'))) await initFolder(dirname(paths.configFile!));
    const made = (await ensureKeySet(config.certsDir, keySetOptions(config))).created;
    for (const f of made) io.err(`darwaza start: created ${join(config.certsDir, f)} (${describeKeyFile(f) ?? 'key file'})`);

    const logger = createLogger({ level, pretty: io.isTTY });
    let gateway;
    try {
      gateway = await startGateway(config, { logger, simulator: values['no-simulator'] ? false : undefined });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') {
        io.err(`darwaza start: a port is already in use (${(e as { address?: string }).address ?? ''}:${(e as { port?: number }).port ?? ''}); is another gateway running?`);
        logger.flush?.();
        return EXIT.runtime;
      }
      logger.error({ err: describeError(err) }, 'start failed');
      logger.flush?.();
      throw err;
    }
    io.out(`darwaza listening: LAN http://${config.listen.lan.host}:${gateway.lanPort}  admin http://${config.listen.admin.host}:${gateway.adminPort}${gateway.mllpPort ? `  mllp ${config.listen.mllp!.host}:${gateway.mllpPort}` : ''}`);

    await new Promise<void>((resolveStop) => {
      const stop = (signal: string) => {
        logger.info({ signal }, 'stopping');
        process.off('SIGHUP', hup);
        gateway!.stop().then(resolveStop, resolveStop);
      };
      const hup = () => {
        gateway!.reload().catch((err) => logger.error({ err: describeError(err) }, 'policy reload failed; keeping the last good policy'));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGHUP', hup);
    });
    return EXIT.ok;
  },
};
