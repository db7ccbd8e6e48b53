/**
 * The pipeline in-process, without HTTP, to price each promise:
 *   spine      — pass-through stages, identity cipher, no audit (parse → route → enqueue only)
 *   full       — classify, policy, consent, labels, seal + sign, encryption at rest, audit
 *   no-audit   — full, but the audit sink does nothing (the price of the Merkle log)
 * Each: 20,000 ~2 KB Observations, 64 in flight (group commit), medians of 3 runs.
 * Targets: full ≥ 70% of spine (issue 6); audit costs ≤ 10% (issue 7).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig, DEMO_CONFIG } from '../src/config/index.js';
import { openDatabase } from '../src/store/index.js';
import { SqliteQueueStore } from '../src/queue/index.js';
import { createPipeline, PASS_THROUGH_STAGES, type Stages } from '../src/pipeline/index.js';
import { loadPolicyAndProfiles, provision } from '../src/gateway/index.js';
import { createMetrics } from '../src/admin/index.js';
import { silentLogger } from '../src/log/index.js';
import type { AuditSink, PayloadCipher } from '../src/model/index.js';
import { observation, consentFor, patientFor } from './fixtures.js';

const N = Number(process.env.BENCH_PIPELINE_N ?? 20_000);
const IN_FLIGHT = 64;
const RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Mode = 'spine' | 'full' | 'no-audit';

export async function once(mode: Mode): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), `dz-bench-pipe-${mode}-`));
  const raw = structuredClone(DEMO_CONFIG) as any;
  raw.simulator.embedded = false;
  raw.dataDir = join(dir, 'data');
  raw.certsDir = join(dir, 'certs');
  raw.policy.path = resolve('policies/pk');
  raw.policy.profilesDir = resolve('policies/profiles');
  raw.limits.queueQuotaBytes = 64 * 2 ** 30;
  const config = resolveConfig(raw, { file: 'bench', baseDir: dir });
  const db = openDatabase(join(config.dataDir, 'darwaza.db'));
  let stages: Stages = PASS_THROUGH_STAGES;
  let cipher: PayloadCipher | undefined;
  let audit: AuditSink | undefined;
  let close = async () => {};
  if (mode !== 'spine') {
    const { keys } = await import('../src/crypto/index.js').then(async (c) => ({ keys: await c.loadOrCreateKeyStore(config.certsDir) }));
    keys.demoRecipient('national-telemed');
    keys.ensureKekFile();
    const clock = () => new Date();
    const runtime = await provision(config, db, await loadPolicyAndProfiles(config, clock), { logger: silentLogger, metrics: createMetrics(), clock });
    // Filed by the same source as the messages: local ids are namespaced by source.
    runtime.consents.put(consentFor('bench-p'), { source: 'bench' });
    stages = runtime.stages;
    cipher = runtime.cipher;
    audit = mode === 'full' ? runtime.audit : { append: () => {} };
    close = async () => runtime.consents.close();
  }
  const store = SqliteQueueStore.open(db, { quotaBytes: config.limits.queueQuotaBytes, cipher, audit });
  const pipeline = createPipeline({ config, store, stages });
  const body = observation('bench-p');
  // The Patient first, so the gateway knows the age (an unknown age is read as a minor's).
  await pipeline.ingest({ resource: patientFor('bench-p'), source: 'bench', purpose: 'TREAT', format: 'fhir' });
  const probe = await pipeline.ingest({ resource: body, source: 'bench', purpose: 'TREAT', format: 'fhir' });
  if (probe.kind !== 'accepted' || probe.answer.destinations[0].decision !== 'queued') throw new Error(`not queued in ${mode}: ${JSON.stringify(probe)}`);
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < N) {
        next++;
        // A fresh object each time, as a parsed request body would be.
        await pipeline.ingest({ resource: JSON.parse(JSON.stringify(body)), source: 'bench', purpose: 'TREAT', format: 'fhir' });
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await close();
  store.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return N / seconds;
}

export async function run(): Promise<Record<string, string | number>> {
  const r: Record<Mode, number[]> = { spine: [], full: [], 'no-audit': [] };
  for (let i = 0; i < RUNS; i++) for (const m of ['spine', 'full', 'no-audit'] as Mode[]) r[m].push(await once(m));
  const spine = median(r.spine);
  const full = median(r.full);
  const noAudit = median(r['no-audit']);
  return {
    'pipeline.spine_msg_per_s': Math.round(spine),
    'pipeline.full_msg_per_s': Math.round(full),
    'pipeline.full_over_spine': Number((full / spine).toFixed(3)),
    'pipeline.no_audit_msg_per_s': Math.round(noAudit),
    'pipeline.audit_cost_fraction': Number((1 - full / noAudit).toFixed(3)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.table(r));
}
