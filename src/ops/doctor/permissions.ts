/**
 * File permissions: the data and certs folders are the service user's alone (0700), and so
 * are the database files and every secret (0600). A group- or world-readable secret fails.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DB_FILE_NAME } from '../../store/index.js';
import { fail, ok, skip, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';

/** Secret files in the certs folder: private keys, PKCS#12 bundles and their passwords, key lists, de-identification keys. */
export function isSecretFile(rel: string): boolean {
  return /\.(key|p12|pass)$/.test(rel) || rel === 'signing-keys.json' || /(^|\/)deid\/[^/]+\.json$/.test(rel);
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0');

function walk(dir: string, depth = 0): string[] {
  if (depth > 3) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, depth + 1));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export function checkPermissions(ctx: DoctorContext): Finding[] {
  const out: Finding[] = [];
  const bad: Finding[] = [];
  const folder = (dir: string, what: string) => {
    if (!existsSync(dir)) {
      out.push(skip('permissions', `${what} ${dir} does not exist yet`));
      return false;
    }
    const m = statSync(dir).mode;
    if (m & 0o077) bad.push(fail('permissions', `${what} ${dir} is mode ${octal(m)}: other users can list or enter it`, `chmod 700 ${dir}`));
    return true;
  };
  const file = (path: string, what: string) => {
    const m = statSync(path).mode;
    if (m & 0o077) bad.push(fail('permissions', `${what} ${path} is mode ${octal(m)}: other users can read it`, `chmod 600 ${path}`));
  };
  let files = 0;
  if (folder(ctx.dataDir, 'data folder')) {
    for (const name of [DB_FILE_NAME, `${DB_FILE_NAME}-wal`, `${DB_FILE_NAME}-shm`]) {
      const p = join(ctx.dataDir, name);
      if (existsSync(p)) {
        file(p, 'database file');
        files++;
      }
    }
  }
  if (folder(ctx.certsDir, 'certs folder')) {
    for (const p of walk(ctx.certsDir)) {
      if (!isSecretFile(relative(ctx.certsDir, p))) continue;
      file(p, 'secret');
      files++;
    }
  }
  if (bad.length) return [...out, ...bad];
  return [...out, ok('permissions', `the data and certs folders and ${files} database and secret files are private to their owner`)];
}
