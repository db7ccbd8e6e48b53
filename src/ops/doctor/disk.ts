/**
 * Disk and quota: free space where the data lives, the queue's share of its quota, and
 * whether the disk would fill before the quota's back-pressure starts (then the quota
 * protects nothing).
 */
import { existsSync, statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { databaseFile, openDatabase } from '../../store/index.js';
import { fail, ok, warn, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';

const MiB = 1024 * 1024;
const human = (n: number) => (n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(1)} GiB` : `${Math.round(n / MiB)} MiB`);

/** The nearest folder that exists (the data folder may not be made yet). */
function existing(dir: string): string {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

/** Payload bytes the queue holds (what its quota counts). */
export function heldPayloadBytes(file: string): number {
  const db = openDatabase(file, { readonly: true });
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue_items'").get();
    if (!has) return 0;
    return (db.prepare('SELECT COALESCE(SUM(payload_bytes), 0) AS n FROM queue_items WHERE payload IS NOT NULL').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

export function checkDisk(ctx: DoctorContext): Finding[] {
  const out: Finding[] = [];
  const where = existing(ctx.dataDir);
  const fs = statfsSync(where);
  const total = fs.blocks * fs.bsize;
  const free = fs.bavail * fs.bsize;
  const share = total > 0 ? free / total : 1;
  const msg = `${human(free)} free of ${human(total)} (${(share * 100).toFixed(0)}%) at ${where}`;
  if (free < 256 * MiB || share < 0.02) out.push(fail('disk', msg, 'free space on this disk (old backups, logs) or move the data folder to a larger one'));
  else if (share < 0.1) out.push(warn('disk', msg, 'free space soon: below 10% the database and its WAL have little room to grow'));
  else out.push(ok('disk', msg));

  const quota = ctx.config?.limits.queueQuotaBytes;
  const file = databaseFile(ctx.dataDir);
  if (quota && existsSync(file)) {
    const held = heldPayloadBytes(file);
    const used = held / quota;
    const line = `the queue holds ${human(held)} of its ${human(quota)} quota (${(used * 100).toFixed(0)}%); database file ${human(statSync(file).size)}`;
    if (used >= 1) out.push(fail('quota', line, 'the LAN API answers 503 now: restore the uplink so the queue drains, purge dead letters (`darwaza queue purge --state dead`) or raise limits.queueQuotaBytes'));
    else if (used >= 0.9) out.push(warn('quota', line, 'the queue is near its quota: find why it does not drain (uplink, dead letters)'));
    else out.push(ok('quota', line));
    if (free < quota - held) {
      out.push(warn('quota', `the disk (${human(free)} free) would fill before the queue reaches its quota (${human(quota - held)} to go)`, 'lower limits.queueQuotaBytes below the free space, or grow the disk, so back-pressure comes before a full disk'));
    }
  }
  return out;
}
