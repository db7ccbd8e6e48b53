/** What every doctor check reads: the resolved config and folders, the environment and the clock. */
import type { GatewayConfig } from '../../config/index.js';

export interface DoctorContext {
  /** The loaded config (undefined: no config file; the checks that need one say so). */
  config: GatewayConfig | undefined;
  dataDir: string;
  certsDir: string;
  env: NodeJS.ProcessEnv;
  now: () => Date;
  /** Network checks give up after this long (default 5 s). */
  timeoutMs: number;
}
