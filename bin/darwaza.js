#!/usr/bin/env node
// The `darwaza` command. It runs the CLI bundle that `npm run build` writes to
// dist/darwaza.cjs (`npm pack` builds it first, so an installed tarball carries it).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/darwaza.cjs', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write(`darwaza: ${bundle} is missing; run "npm run build" in the repository first\n`);
  process.exit(4);
}
createRequire(import.meta.url)(bundle);
