/**
 * npm run bench — every benchmark, one after another, printing figures (medians) and
 * ratios against baselines measured in the same run. Targets are reported, never asserted.
 * BENCH_ONLY=ingest,queue runs a subset; so do names as arguments (npm run bench -- links queue),
 * both ways read into one list. BENCH_RUNS / BENCH_SECONDS tune the ingest runs.
 * The soak (npm run bench -- soak [--minutes N]) runs only when named: it takes minutes.
 */
import { cpus, totalmem } from 'node:os';

const suites: Record<string, () => Promise<{ run(): Promise<Record<string, string | number>> }>> = {
  full: () => import('./full.js'),
  ingest: () => import('./ingest.js'),
  pipeline: () => import('./pipeline.js'),
  inbound: () => import('./inbound.js'),
  queue: () => import('./queue.js'),
  policy: () => import('./policy.js'),
  sanitize: () => import('./sanitize.js'),
  consent: () => import('./consent.js'),
  crypto: () => import('./crypto.js'),
  audit: () => import('./audit.js'),
  backlog: () => import('./backlog.js'),
  mllp: () => import('./mllp.js'),
  links: () => import('./links.js'),
  postgres: () => import('./postgres.js'),
  pair: () => import('./pair.js'),
  soak: () => import('./soak.js'),
};
/** Suites that run only when named. */
const onRequest = new Set(['soak']);

// Names before any --option (whose values belong to the suite, e.g. --minutes 3).
const firstOption = process.argv.slice(2).findIndex((a) => a.startsWith('--'));
const named = process.argv.slice(2, firstOption < 0 ? undefined : 2 + firstOption);
const only = [...(process.env.BENCH_ONLY?.split(',') ?? []), ...named].filter(Boolean);
console.log(`darwaza benchmarks on ${cpus().length} × ${cpus()[0]?.model?.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
const all: Record<string, string | number> = {};
for (const [name, load] of Object.entries(suites)) {
  if (only.length ? !only.includes(name) : onRequest.has(name)) continue;
  const started = Date.now();
  try {
    const figures = await (await load()).run();
    Object.assign(all, figures);
    console.log(`\n## ${name} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(48)} ${v}`);
  } catch (err) {
    console.log(`\n## ${name}: FAILED — ${(err as Error).message}`);
    // The soak's verdict is its exit code; the other suites only print figures.
    if (onRequest.has(name)) process.exitCode = 1;
  }
}
