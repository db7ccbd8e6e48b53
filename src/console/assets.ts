/**
 * The console's static files, all shipped inside the bundle: htmx and uPlot from their
 * packages, and the console's own stylesheet and script. The build embeds them under
 * "console/<name>" in __DARWAZA_ASSETS__; from the repository (tests) they are read from
 * node_modules and src/console/static. Nothing is fetched from the internet.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __DARWAZA_ASSETS__: Record<string, string> | undefined;

/** name → [package file or static file, content type]. The build reads the same table. */
export const CONSOLE_ASSETS: Record<string, { from: string; type: string }> = {
  'htmx.min.js': { from: 'htmx.org/dist/htmx.min.js', type: 'text/javascript; charset=utf-8' },
  'uPlot.iife.min.js': { from: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { from: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
  'console.js': { from: 'static:console.js', type: 'text/javascript; charset=utf-8' },
  'console.css': { from: 'static:console.css', type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, string>();

function fromDisk(from: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  if (from.startsWith('static:')) {
    const p = join(here, 'static', from.slice('static:'.length));
    return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
  }
  try {
    return readFileSync(createRequire(import.meta.url).resolve(from), 'utf8');
  } catch {
    return undefined;
  }
}

/** The file's text and content type, or undefined for a name not in the table. */
export function consoleAsset(name: string): { body: string; type: string } | undefined {
  const a = Object.hasOwn(CONSOLE_ASSETS, name) ? CONSOLE_ASSETS[name] : undefined;
  if (!a) return undefined;
  let body = cache.get(name);
  if (body === undefined) {
    const embedded = typeof __DARWAZA_ASSETS__ !== 'undefined' ? __DARWAZA_ASSETS__[`console/${name}`] : undefined;
    body = embedded ?? fromDisk(a.from);
    if (body === undefined) return undefined;
    cache.set(name, body);
  }
  return { body, type: a.type };
}
