/**
 * `darwaza service install|uninstall` — the systemd unit that runs the gateway as a dedicated,
 * confined user (see src/ops/service/unit.ts for every setting and why).
 */
import { resolve } from 'node:path';
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { selfExec, DEFAULT_MEMORY_MAX, DEFAULT_SERVICE_USER, DEFAULT_UNIT_DIR, ServiceError, installUnit, uninstallUnit } from '../../ops/index.js';

export const command: Command = {
  name: 'service',
  summary: 'install or remove the hardened systemd unit (dedicated user, read-only system)',
  usage: `Usage: darwaza service install [--config FILE] [--user NAME] [--memory-max SIZE] [--unit-dir DIR] [--exec PATH] [--force]
       darwaza service uninstall [--unit-dir DIR]

install writes darwaza.service (default into ${DEFAULT_UNIT_DIR}): the gateway runs as a dedicated
user with ProtectSystem=strict and only the data and certs folders writable (ReadWritePaths),
NoNewPrivileges, PrivateTmp, MemoryMax, no capabilities (CAP_NET_BIND_SERVICE only when a
listener port is below 1024) and Restart=on-failure. It then prints the commands that make the
user, hand it the folders and enable the service. uninstall removes the file.

Options:
${pathUsage('config', 'data-dir', 'certs-dir')}
  --user NAME            the service user and group (default: ${DEFAULT_SERVICE_USER})
  --memory-max SIZE      systemd MemoryMax= (default: ${DEFAULT_MEMORY_MAX})
  --unit-dir DIR         where the unit goes (default: ${DEFAULT_UNIT_DIR})
  --exec PATH            the darwaza executable (default: this one)
  --force                replace a unit that differs
Exit: 0 done, 1 refused, 2 usage, 3 bad config.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ...PATH_FLAGS,
      user: { type: 'string' },
      'memory-max': { type: 'string' },
      'unit-dir': { type: 'string' },
      exec: { type: 'string' },
      force: { type: 'boolean' },
    });
    const [sub] = positionals;
    if (sub !== 'install' && sub !== 'uninstall') throw new UsageError('service needs install or uninstall');
    const unitDir = resolve(io.cwd, values['unit-dir'] ?? DEFAULT_UNIT_DIR);
    try {
      if (sub === 'uninstall') {
        const r = uninstallUnit(unitDir);
        io.out(r.removed ? `Removed ${r.file}.` : `No unit at ${r.file}; nothing to remove.`);
        for (const n of r.next) io.out(`  ${n}`);
        return EXIT.ok;
      }
      const paths = resolvePaths(io, values);
      const config = paths.config();
      if (!paths.configFile || !config) throw new UsageError('install needs a config file (--config FILE, or ./gateway.config.json)');
      const user = values.user ?? DEFAULT_SERVICE_USER;
      if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new UsageError(`--user: "${user}" is not a valid user name`);
      const memoryMax = values['memory-max'] ?? DEFAULT_MEMORY_MAX;
      if (!/^\d+[KMGT]?$|^\d{1,3}%$|^infinity$/.test(memoryMax)) throw new UsageError(`--memory-max: "${memoryMax}" is not a size (e.g. 1G, 512M, 50%)`);
      const ports = [config.listen.lan.port, config.listen.admin.port, ...(config.listen.mllp ? [config.listen.mllp.port] : [])];
      const r = installUnit(
        unitDir,
        {
          user,
          exec: values.exec ? [resolve(io.cwd, values.exec)] : selfExec(),
          configFile: paths.configFile,
          workDir: resolve(paths.configFile, '..'),
          dataDir: paths.dataDir(),
          certsDir: paths.certsDir(),
          memoryMax,
          lowestPort: Math.min(...ports),
        },
        values.force,
      );
      io.out(`Wrote ${r.file}. Next, as root:`);
      for (const n of r.next) io.out(`  ${n}`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof ServiceError) {
        io.err(`darwaza service: ${err.message}`);
        return EXIT.failed;
      }
      throw err;
    }
  },
};
