/**
 * Scheduled signing-key rotation as an in-process node-cron task (forked tasks do not
 * work inside the single binary). Each run: make a new key (the old one stays trusted),
 * then drop keys retired longer ago than the overlap. Receivers must learn the new public
 * key within the overlap: `darwaza keys list --json` prints what they should trust.
 */
import cron from 'node-cron';
import type { KeyStore, SigningKeyInfo } from './keystore.js';

export const DEFAULT_ROTATION_CRON = '0 3 1 * *'; // 03:00 on the 1st of each month
export const DEFAULT_OVERLAP_MS = 30 * 24 * 3600 * 1000;

export interface RotationOptions {
  cron?: string;
  timezone?: string;
  overlapMs?: number;
  /** Told about each rotation (audit 'key-rotated', metrics). Must not throw. */
  onRotated?: (event: { rotated: SigningKeyInfo; pruned: string[] }) => void;
  onError?: (err: unknown) => void;
  clock?: () => Date;
}

/** One rotation step (what the scheduled task runs; also `darwaza keys rotate`). */
export function rotateNow(keys: KeyStore, options: Pick<RotationOptions, 'overlapMs' | 'clock'> = {}) {
  const now = (options.clock ?? (() => new Date()))();
  const rotated = keys.rotateSigningKey(now);
  const pruned = keys.pruneRetired(options.overlapMs ?? DEFAULT_OVERLAP_MS, now);
  return { rotated, pruned };
}

export function scheduleKeyRotation(keys: KeyStore, options: RotationOptions = {}): { stop(): void } {
  const expression = options.cron ?? DEFAULT_ROTATION_CRON;
  if (!cron.validate(expression)) throw new TypeError(`keys.rotation.cron: "${expression}" is not a valid cron expression`);
  const task = cron.schedule(
    expression,
    () => {
      try {
        options.onRotated?.(rotateNow(keys, options));
      } catch (err) {
        options.onError?.(err);
      }
    },
    { name: 'darwaza-key-rotation', timezone: options.timezone, noOverlap: true },
  );
  return {
    stop() {
      void task.stop();
      void task.destroy();
    },
  };
}
