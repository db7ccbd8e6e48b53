// Bundles the CLI into one CommonJS file with esbuild.
//   node scripts/build.mjs          → dist/darwaza.cjs (better-sqlite3 stays external: loaded from node_modules)
//   node scripts/build.mjs --sea    → dist/sea/darwaza.cjs (everything inside, for the single binary)
// The policy pack, profiles and schemas are embedded as __DARWAZA_ASSETS__.
import { build } from 'esbuild';
import { readFileSync, readdirSync, statSync, existsSync, mkdirSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sea = process.argv.includes('--sea');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const assets = {};
const walk = (dir) => {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else assets[relative(root, p).split('\\').join('/')] = readFileSync(p, 'utf8');
  }
};
for (const d of ['policies', 'schemas']) walk(join(root, d));
// The console's static files (src/console/assets.ts names the same ones): shipped inside, never fetched.
const consoleFiles = {
  'htmx.min.js': join(root, 'node_modules/htmx.org/dist/htmx.min.js'),
  'uPlot.iife.min.js': join(root, 'node_modules/uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': join(root, 'node_modules/uplot/dist/uPlot.min.css'),
  'console.js': join(root, 'src/console/static/console.js'),
  'console.css': join(root, 'src/console/static/console.css'),
};
for (const [name, file] of Object.entries(consoleFiles)) assets[`console/${name}`] = readFileSync(file, 'utf8');

const outfile = join(root, sea ? 'dist/sea/darwaza.cjs' : 'dist/darwaza.cjs');
mkdirSync(dirname(outfile), { recursive: true });
const started = Date.now();
await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  external: sea ? [] : ['better-sqlite3'],
  // ESM-only dependencies read import.meta.url, which is empty in CommonJS.
  banner: { js: 'const __darwaza_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: {
    'import.meta.url': '__darwaza_import_meta_url',
    __DARWAZA_ASSETS__: JSON.stringify(assets),
    __DARWAZA_VERSION__: JSON.stringify(pkg.version),
  },
});
// stderr: stdout stays clean for `npm pack --json`, which runs this as prepack.
console.error(`built ${relative(root, outfile)} in ${Date.now() - started} ms (${Object.keys(assets).length} embedded files)`);
