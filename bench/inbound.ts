/**
 * What inbound checking costs per message, on the Synthea R4 bundles and the ~2 KB
 * Observation: structure validation against the R4 definitions (validateInbound: shape +
 * StructureDefinitions), content classification (classifyMessage), and the full in-process
 * ingest they sit beside (classify, policy, consent, seal, encryption at rest, audit,
 * commit). The cost before validation and wiring is approximated without a second
 * checkout: validation is new (its whole cost is added), and the classifier now reads
 * content everywhere (its cost is reported as a share of the ingest it is part of).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig, DEMO_CONFIG } from '../src/config/index.js';
import { openDatabase } from '../src/store/index.js';
import { SqliteQueueStore } from '../src/queue/index.js';
import { createPipeline } from '../src/pipeline/index.js';
import { loadPolicyAndProfiles, provision } from '../src/gateway/index.js';
import { createMetrics } from '../src/admin/index.js';
import { silentLogger } from '../src/log/index.js';
import { classifyMessage } from '../src/classify/index.js';
import { loadFhirDefinitions, validateInbound } from '../src/fhir/index.js';
import type { FhirResource } from '../src/model/index.js';
import { observation, consentFor, patientFor } from './fixtures.js';

const SYNTHEA = resolve('test/fixtures/synthea-r4');
const ROUNDS = Number(process.env.BENCH_INBOUND_ROUNDS ?? 5);

/** Mean milliseconds per call of fn over `rounds` passes of the inputs, after one warm-up pass. */
function perCall<T>(inputs: T[], rounds: number, fn: (x: T) => unknown): number {
  for (const x of inputs) fn(x);
  const started = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const x of inputs) fn(x);
  return Number(process.hrtime.bigint() - started) / 1e6 / (rounds * inputs.length);
}

async function perIngest(messages: { text: string; patient: string }[], rounds: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'dz-bench-inbound-'));
  const raw = structuredClone(DEMO_CONFIG) as any;
  raw.simulator.embedded = false;
  raw.dataDir = join(dir, 'data');
  raw.certsDir = join(dir, 'certs');
  raw.policy.path = resolve('policies/pk');
  raw.policy.profilesDir = resolve('policies/profiles');
  raw.limits.queueQuotaBytes = 64 * 2 ** 30;
  const config = resolveConfig(raw, { file: 'bench', baseDir: dir });
  const db = openDatabase(join(config.dataDir, 'darwaza.db'));
  const { loadOrCreateKeyStore } = await import('../src/crypto/index.js');
  const keys = await loadOrCreateKeyStore(config.certsDir);
  keys.demoRecipient('national-telemed');
  keys.ensureKekFile();
  const clock = () => new Date();
  const runtime = await provision(config, db, await loadPolicyAndProfiles(config, clock), { logger: silentLogger, metrics: createMetrics(), clock });
  for (const m of new Set(messages.map((x) => x.patient))) runtime.consents.put(consentFor(m));
  const store = SqliteQueueStore.open(db, { quotaBytes: config.limits.queueQuotaBytes, cipher: runtime.cipher, audit: runtime.audit });
  const pipeline = createPipeline({ config, store, stages: runtime.stages });
  // The Observation's Patient first, so its age is known (an unknown age is read as a minor's).
  await pipeline.ingest({ resource: patientFor('bench-p'), source: 'bench', purpose: 'TREAT', format: 'fhir' });
  const once = async (m: { text: string }) => {
    // Parsed afresh, as a request body is.
    const r = await pipeline.ingest({ resource: JSON.parse(m.text) as FhirResource, source: 'bench', purpose: 'TREAT', format: 'fhir' });
    if (r.kind !== 'accepted') throw new Error('not accepted');
  };
  for (const m of messages) await once(m);
  const started = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const m of messages) await once(m);
  const ms = Number(process.hrtime.bigint() - started) / 1e6 / (rounds * messages.length);
  runtime.consents.close();
  store.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

export async function run(): Promise<Record<string, string | number>> {
  const t0 = process.hrtime.bigint();
  loadFhirDefinitions();
  const indexMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const files = readdirSync(SYNTHEA).filter((f) => f.endsWith('.json'));
  const synthea = files.map((f) => {
    const text = readFileSync(join(SYNTHEA, f), 'utf8');
    const bundle = JSON.parse(text) as { entry?: { resource: FhirResource }[] };
    const patient = bundle.entry?.find((e) => e.resource.resourceType === 'Patient')?.resource.id ?? 'none';
    return { text, patient, resource: JSON.parse(text) as FhirResource };
  });
  const obsText = JSON.stringify(observation('bench-p'));
  const obs = [{ text: obsText, patient: 'bench-p', resource: JSON.parse(obsText) as FhirResource }];
  const now = new Date();
  const limits = { maxDepth: 64, maxEntries: 10_000 };

  const figures: Record<string, string | number> = { 'inbound.definitions_index_ms': Math.round(indexMs) };
  for (const [name, set, rounds] of [['synthea', synthea, ROUNDS], ['observation', obs, ROUNDS * 200]] as const) {
    const validate = perCall(set, rounds, (m) => validateInbound(m.resource, m.resource.resourceType === 'Bundle' ? undefined : m.resource.resourceType, limits));
    const classify = perCall(set, rounds, (m) => classifyMessage({ resource: m.resource }, { now }));
    const ingest = await perIngest(set, name === 'synthea' ? Math.max(1, Math.floor(rounds / 2)) : rounds);
    const total = ingest + validate;
    figures[`inbound.${name}.validate_ms_per_msg`] = Number(validate.toFixed(3));
    figures[`inbound.${name}.classify_ms_per_msg`] = Number(classify.toFixed(3));
    figures[`inbound.${name}.ingest_ms_per_msg`] = Number(ingest.toFixed(3));
    figures[`inbound.${name}.validate_added_fraction`] = Number((validate / total).toFixed(3));
    figures[`inbound.${name}.classify_share_of_ingest`] = Number((classify / ingest).toFixed(3));
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.table(r));
}
