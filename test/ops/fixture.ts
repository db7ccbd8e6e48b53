/**
 * An appliance folder as `darwaza init` makes it, on free ports, whose gateway has run once
 * (so the database holds an audit log with a signed head). Tests copy it and break the copy.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initFolder } from '../../src/cli/commands/init.js';
import { loadConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/index.js';
import { silentLogger } from '../../src/log/index.js';
import { freePort } from '../helpers/net.js';

export interface Appliance {
  dir: string;
  configFile: string;
  ports: { lan: number; admin: number; mllp: number; sim: number };
}

/** init + free ports + one run of the gateway in this process. */
export async function makeAppliance(dir: string, patch: (config: any) => void = () => {}): Promise<Appliance> {
  await initFolder(dir);
  const ports = { lan: await freePort(), admin: await freePort(), mllp: await freePort(), sim: await freePort() };
  const configFile = join(dir, 'gateway.config.json');
  const raw = JSON.parse(readFileSync(configFile, 'utf8'));
  raw.listen = { lan: `127.0.0.1:${ports.lan}`, admin: `127.0.0.1:${ports.admin}`, mllp: `127.0.0.1:${ports.mllp}` };
  raw.simulator = { embedded: false, listen: `127.0.0.1:${ports.sim}` };
  for (const d of raw.destinations) d.url = `http://127.0.0.1:${ports.sim}/ingest`;
  patch(raw);
  writeFileSync(configFile, JSON.stringify(raw, null, 2));
  const g = await startGateway(loadConfig(configFile), { logger: silentLogger, simulator: false });
  await g.stop();
  return { dir, configFile, ports };
}

/** A copy of the appliance in `to` (config paths are relative, so the copy stands alone). */
export function copyAppliance(a: Appliance, to: string): Appliance {
  cpSync(a.dir, to, { recursive: true });
  return { ...a, dir: to, configFile: join(to, 'gateway.config.json') };
}
