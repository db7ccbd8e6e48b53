// The README's map of folders is the tree: every folder under src/ is in the map, and every
// folder the map names exists.
import t from 'tap';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const repo = process.cwd();
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const mapped = new Set([...readme.matchAll(/^\| `((?:src|bin)(?:\/[a-z0-9-]+)*)` \|/gm)].map((m) => m[1]!));

t.test('every folder under src/ (and src/ingress/*) is in the README map', async (t) => {
  const dirs = readdirSync(join(repo, 'src')).filter((d) => statSync(join(repo, 'src', d)).isDirectory());
  for (const d of dirs) {
    if (d === 'ingress') {
      for (const sub of readdirSync(join(repo, 'src', d))) t.ok(mapped.has(`src/ingress/${sub}`), `src/ingress/${sub} is in the map`);
    } else t.ok(mapped.has(`src/${d}`), `src/${d} is in the map`);
  }
});

t.test('every folder the map names exists', async (t) => {
  t.ok(mapped.size > 10, `the map lists folders (${mapped.size})`);
  for (const m of mapped) t.ok(existsSync(join(repo, m)), `${m} exists`);
});

t.test('no file of the repository names a path outside it', async (t) => {
  const { execFileSync } = await import('node:child_process');
  let out = '';
  try {
    out = execFileSync('git', ['grep', '-n', '-E', String.raw`\.\./shared|/work/shared`, '--', '.', ':!test/docs/map.test.ts'], { cwd: repo, encoding: 'utf8' });
  } catch (e) {
    // git grep exits 1 when nothing matches; without git (an unpacked tarball) there is nothing to check.
    if ((e as { status?: number }).status !== 1) t.comment('git grep unavailable');
  }
  t.equal(out, '', 'git grep finds no path to the shared folder beside the repository');
});
