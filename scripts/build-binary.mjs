// Builds dist/darwaza: one executable (Node's Single Executable Applications) holding the
// bundled CLI, the policy pack, and as SEA assets better-sqlite3's native addon and the
// FHIR R4 StructureDefinitions the ingress validator needs (there is no node_modules).
// Uses this machine's own node; nothing is downloaded. See docs in README ("Single binary").
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, writeFileSync, chmodSync, statSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { trimmedFhirDefinitions } from './fhir-definitions.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...opts });
const started = Date.now();

run(process.execPath, [join(root, 'scripts/build.mjs'), '--sea']);

const addon = join(dirname(require.resolve('better-sqlite3/package.json')), 'build/Release/better_sqlite3.node');
if (!existsSync(addon)) throw new Error(`better-sqlite3's compiled addon is missing at ${addon}; run npm install`);

const out = join(root, 'dist');
mkdirSync(join(out, 'sea'), { recursive: true });
const definitions = join(out, 'sea/fhir-r4-definitions.json');
writeFileSync(definitions, trimmedFhirDefinitions());
const seaConfig = join(out, 'sea/sea-config.json');
const blob = join(out, 'sea/sea-prep.blob');
writeFileSync(
  seaConfig,
  JSON.stringify(
    {
      main: join(out, 'sea/darwaza.cjs'),
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      // The asset name is FHIR_DEFINITIONS_ASSET in src/fhir/structure.ts.
      assets: { 'better_sqlite3.node': addon, 'fhir-r4-definitions.json': definitions },
    },
    null,
    2,
  ),
);
run(process.execPath, ['--experimental-sea-config', seaConfig]);

const bin = join(out, 'darwaza');
copyFileSync(process.execPath, bin);
chmodSync(bin, 0o755);
try {
  run('strip', [bin]);
} catch {
  console.warn('strip not available: the binary stays larger');
}
// postject's "Can't find string offset" warnings are harmless (see toolchain notes): filtered out.
const injected = spawnSync(process.execPath, [
  require.resolve('postject/dist/cli.js'),
  bin,
  'NODE_SEA_BLOB',
  blob,
  '--sentinel-fuse',
  'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
], { cwd: root, encoding: 'utf8' });
const noise = /Can't find string offset|^\s*$/;
for (const line of `${injected.stdout}\n${injected.stderr}`.split('\n')) if (!noise.test(line)) console.error(line);
if (injected.status !== 0) throw new Error(`postject failed (exit ${injected.status})`);
console.log(`built dist/darwaza (${(statSync(bin).size / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
