/**
 * The console from the bundle a user runs (dist/darwaza.cjs started as a child process
 * from `darwaza init`'s folder): the overview answers on the admin listener, and every
 * asset comes from the bundle itself (embedded at build time), byte for byte the
 * packages' files, so nothing is fetched from the internet.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CLI, prepareDir, startGatewayProcess } from '../helpers/processes.js';

t.test('the bundle serves the console and its embedded assets', async (t) => {
  const bundle = readFileSync(CLI, 'utf8');
  for (const name of ['htmx.min.js', 'uPlot.iife.min.js', 'uPlot.min.css', 'console.js', 'console.css']) {
    t.ok(bundle.includes(`"console/${name}"`), `${name} is embedded in the bundle`);
  }
  const dir = t.testdir();
  const { ports } = await prepareDir(dir);
  const gw = await startGatewayProcess(dir);
  t.teardown(() => gw.kill());
  const admin = `http://127.0.0.1:${ports.admin}`;
  // init's demo config gives loopback peers the oversight roles: no sign-in on this machine.
  const page = await fetch(`${admin}/console/`, { headers: { accept: 'text/html' } });
  t.equal(page.status, 200);
  const html = await page.text();
  t.match(html, /<h1>Overview<\/h1>/, 'the overview');
  t.match(html, /national-telemed/, 'with the configured destination');
  t.notMatch(html, /https?:\/\/(?!127\.0\.0\.1)[a-z]/i, 'and no reference to another host');
  const require = createRequire(import.meta.url);
  for (const [name, pkg] of [['htmx.min.js', 'htmx.org/dist/htmx.min.js'], ['uPlot.iife.min.js', 'uplot/dist/uPlot.iife.min.js']] as const) {
    const r = await fetch(`${admin}/console/assets/${name}`);
    t.equal(r.status, 200);
    t.equal(await r.text(), readFileSync(require.resolve(pkg), 'utf8'), `${name} is the package's file`);
  }
});
