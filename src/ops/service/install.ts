/**
 * Installing and removing the unit file. Writing the file is all install does; creating the
 * user, handing it the folders and enabling the service are printed as next steps, because
 * they change the machine beyond one file and hospital IT should see each one.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UNIT_NAME, renderUnit, type UnitOptions } from './unit.js';

export class ServiceError extends Error {
  override name = 'ServiceError';
}

export function installUnit(unitDir: string, opts: UnitOptions, force = false): { file: string; next: string[] } {
  const file = join(unitDir, UNIT_NAME);
  const text = renderUnit(opts);
  if (existsSync(file) && !force && readFileSync(file, 'utf8') !== text) {
    throw new ServiceError(`${file} exists and differs: give --force to replace it`);
  }
  mkdirSync(unitDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
  const u = opts.user;
  return {
    file,
    next: [
      `id ${u} || useradd --system --home-dir ${opts.workDir} --shell /usr/sbin/nologin ${u}`,
      `chown -R ${u}:${u} ${opts.dataDir} ${opts.certsDir} && chmod 700 ${opts.dataDir} ${opts.certsDir}`,
      'systemctl daemon-reload',
      'systemctl enable --now darwaza',
      'journalctl -u darwaza -f',
    ],
  };
}

export function uninstallUnit(unitDir: string): { file: string; removed: boolean; next: string[] } {
  const file = join(unitDir, UNIT_NAME);
  const removed = existsSync(file);
  if (removed) rmSync(file);
  return { file, removed, next: ['systemctl daemon-reload', 'if it still runs: systemctl stop darwaza'] };
}
