/**
 * bench/sanitize — de-identification throughput through pk-research (one core).
 * Targets: ≥ 3,000 Synthea-sized resources/s; a 2 MB Synthea bundle in ≤ 300 ms.
 * Baseline in the same run: structuredClone of the same data (the floor for
 * "apply never mutates its input"). Figures are medians over runs.
 *
 *   npx tsx bench/sanitize.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FhirResource } from '../src/model/index.js';
import { loadProfile } from '../src/sanitize/index.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');
const PROFILES = join(process.cwd(), 'policies', 'profiles');
const KEYS = { cryptoHashKey: 'bench-hash-key-0123456789abcdef', dateShiftKey: 'bench-date-key' };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/**
 * Wall-clock ms per run, and CPU ms per run (user + system of this process): on a shared,
 * loaded machine the CPU time is what one core actually spent, the wall time what a caller waited.
 */
const cpuMs: number[][] = [];
function timeRuns(runs: number, fn: () => void): number[] {
  const out: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  cpuMs.push(cpu);
  return out;
}
const lastCpu = () => median(cpuMs[cpuMs.length - 1]);

export async function run(): Promise<Record<string, string | number>> {
  const profile = await loadProfile(join(PROFILES, 'pk-research.yaml'), { keys: KEYS });
  const safeHarbor = await loadProfile(join(PROFILES, 'safe-harbor.json'), { keys: KEYS });
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
  const bundles = files.map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as FhirResource & { entry: Array<{ resource: FhirResource }> });
  const resources = bundles.flatMap((b) => b.entry.map((e) => e.resource));
  const largestFile = files.reduce((a, f) => (readFileSync(join(FIXTURES, f)).length > readFileSync(join(FIXTURES, a)).length ? f : a));
  const largest = bundles[files.indexOf(largestFile)];
  const largestBytes = JSON.stringify(largest).length;

  // ~2 MB: the patient bundles' entries, repeated until the JSON passes 2 MB.
  const patientEntries = bundles.filter((b) => b.entry.some((e) => e.resource.resourceType === 'Patient')).flatMap((b) => b.entry);
  const big = { resourceType: 'Bundle', type: 'transaction', entry: [] as unknown[] };
  while (JSON.stringify(big).length < 2 * 1024 * 1024) big.entry.push(...patientEntries);
  big.entry = big.entry.slice(0, Math.ceil(big.entry.length * ((2 * 1024 * 1024) / JSON.stringify(big).length)) + 1);
  const bigBytes = JSON.stringify(big).length;

  // warm up (JIT, caches)
  for (let i = 0; i < 3; i++) {
    profile.apply(largest);
    for (const r of resources.slice(0, 300)) profile.apply(r);
  }

  const perResource = timeRuns(7, () => {
    for (const r of resources) profile.apply(r);
  });
  const perResourceCpu = lastCpu();
  const resPerSec = resources.length / (median(perResource) / 1000);
  const cloneOne = timeRuns(7, () => {
    for (const r of resources) structuredClone(r);
  });
  const inBundles = timeRuns(5, () => {
    for (const b of bundles) profile.apply(b);
  });
  const inBundlesCpu = lastCpu();
  const largestMs = timeRuns(9, () => profile.apply(largest));
  const largestCpu = lastCpu();
  const bigMs = timeRuns(7, () => profile.apply(big as unknown as FhirResource));
  const bigCpu = lastCpu();
  const bigClone = timeRuns(7, () => structuredClone(big));
  const bigSafeHarbor = timeRuns(5, () => safeHarbor.apply(big as unknown as FhirResource));

  return {
    'sanitize.resources': resources.length,
    'sanitize.pk_research_resources_per_s (one by one)': Math.round(resPerSec),
    'sanitize.pk_research_resources_per_cpu_s (one by one)': Math.round(resources.length / (perResourceCpu / 1000)),
    'sanitize.pk_research_resources_per_s (in bundles)': Math.round(resources.length / (median(inBundles) / 1000)),
    'sanitize.pk_research_resources_per_cpu_s (in bundles)': Math.round(resources.length / (inBundlesCpu / 1000)),
    'sanitize.target_resources_per_s': 3000,
    'sanitize.structuredClone_resources_per_s (baseline)': Math.round(resources.length / (median(cloneOne) / 1000)),
    'sanitize.apply_vs_structuredClone (x slower)': Number((median(perResource) / median(cloneOne)).toFixed(1)),
    [`sanitize.largest_fixture_ms (${(largestBytes / 1024).toFixed(0)} KB, ${largest.entry.length} entries)`]: Number(median(largestMs).toFixed(1)),
    'sanitize.largest_fixture_cpu_ms': Number(largestCpu.toFixed(1)),
    [`sanitize.bundle_2MB_ms (${(bigBytes / 1024 / 1024).toFixed(2)} MB, ${big.entry.length} entries)`]: Number(median(bigMs).toFixed(1)),
    'sanitize.bundle_2MB_cpu_ms': Number(bigCpu.toFixed(1)),
    'sanitize.bundle_2MB_target_ms': 300,
    'sanitize.bundle_2MB_structuredClone_ms (baseline)': Number(median(bigClone).toFixed(1)),
    'sanitize.bundle_2MB_safe_harbor_ms': Number(median(bigSafeHarbor).toFixed(1)),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(64)} ${v}`);
}
