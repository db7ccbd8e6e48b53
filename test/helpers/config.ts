/** Test configurations built from the demo defaults. */
import { resolveConfig, DEMO_CONFIG, type GatewayConfig } from '../../src/config/index.js';

export function testConfig(patch: (c: any) => void = () => {}, baseDir = process.cwd()): GatewayConfig {
  const raw = structuredClone(DEMO_CONFIG) as any;
  raw.simulator.embedded = false;
  patch(raw);
  return resolveConfig(raw, { file: 'test-config', baseDir });
}
