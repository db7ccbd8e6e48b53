/**
 * Files that ship inside the single binary: the policy pack, de-identification
 * profiles and published schemas. The build (scripts/build.mjs) defines
 * __DARWAZA_ASSETS__ as { "policies/pk/…": "<text>" }; when running from the
 * repository (tests, tsx) the files are read from the repository instead.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __DARWAZA_ASSETS__: Record<string, string> | undefined;
declare const __DARWAZA_VERSION__: string | undefined;

/** The folders (relative to the repository root) whose files are embedded. */
export const EMBEDDED_DIRS = ['policies', 'schemas'];

function repoRoot(): string {
  // src/embedded/index.ts → the repository root is two levels up.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'policies'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

function walk(root: string, dir: string, out: Record<string, string>) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(root, p, out);
    else out[relative(root, p).split('\\').join('/')] = readFileSync(p, 'utf8');
  }
}

let cache: Record<string, string> | undefined;

/** Every embedded file, path → text. */
export function embeddedAssets(): Record<string, string> {
  if (cache) return cache;
  if (typeof __DARWAZA_ASSETS__ !== 'undefined') return (cache = __DARWAZA_ASSETS__);
  const root = repoRoot();
  const out: Record<string, string> = {};
  for (const d of EMBEDDED_DIRS) walk(root, resolve(root, d), out);
  return (cache = out);
}

export function darwazaVersion(): string {
  if (typeof __DARWAZA_VERSION__ !== 'undefined') return __DARWAZA_VERSION__;
  try {
    return (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0-dev';
  }
}
